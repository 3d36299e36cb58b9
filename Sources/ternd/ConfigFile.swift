import Foundation

/// A settings file in the `EnvironmentFile=` format: `TERND_NAME=value` lines, `#` comments,
/// optional quotes. `ternd --config FILE` reads it at start and again on SIGHUP, which is how
/// settings change without a restart (systemd reads `EnvironmentFile=` only at start).
enum ConfigFile {
    static func read(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StateError("cannot read config file \(path): \(error.localizedDescription)")
        }
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw StateError("\(path):\(number + 1): expected NAME=value, got '\(line)'")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            guard name.hasPrefix("TERND_") else {
                throw StateError("\(path):\(number + 1): '\(name)' is not a TERND_ setting")
            }
            values[name] = value
        }
        return values
    }
}
