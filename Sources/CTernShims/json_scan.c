#include "ctern_json.h"

#if defined(__SSE2__)
#include <emmintrin.h>

// The special bytes of 16 as a bit mask: `"`, `\`, and (as signed bytes) everything below 0x20,
// which takes in 0x80 and above.
static inline unsigned special_mask(const uint8_t *at) {
    const __m128i block = _mm_loadu_si128((const __m128i *)at);
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')), _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(block, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(special);
}
#endif

size_t ctern_json_plain_end(const uint8_t *bytes, size_t count, size_t start) {
    size_t index = start;
#if defined(__SSE2__)
    while (count - index >= 16) {
        const unsigned mask = special_mask(bytes + index);
        if (mask != 0) return index + (size_t)__builtin_ctz(mask);
        index += 16;
    }
    if (index == count) return count;
    if (count >= 16) {
        // The last 16 bytes of the buffer; the `remaining` ones not yet seen are its top lanes.
        const size_t remaining = count - index;
        const unsigned mask = special_mask(bytes + count - 16) >> (16 - remaining);
        return mask != 0 ? index + (size_t)__builtin_ctz(mask) : count;
    }
#endif
    for (; index < count; index++) {
        const uint8_t byte = bytes[index];
        if (byte == '"' || byte == '\\' || byte < 0x20 || byte >= 0x80) break;
    }
    return index;
}
