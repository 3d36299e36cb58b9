#ifndef CTERN_JSON_H
#define CTERN_JSON_H
#include <stddef.h>
#include <stdint.h>

/// The index of the first byte at or after `start` in `bytes[0..<count]` that a JSON string scan
/// must look at: `"`, `\`, a byte below 0x20 or one of 0x80 and above; `count` if there is none.
/// Sixteen bytes at a time with SSE2 (the last block re-read from the end of the buffer, never
/// past it); `start` ≤ `count`.
size_t ctern_json_plain_end(const uint8_t *bytes, size_t count, size_t start);

#endif
