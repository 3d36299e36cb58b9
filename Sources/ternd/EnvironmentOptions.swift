/// `TERND_*` environment variables as flags, so `EnvironmentFile=` works under systemd.
///
/// Precedence: a flag on the command line wins over the environment, which wins over the
/// built-in default. `TERND_MAX_PAYLOAD=8192` means `--max-payload 8192`.
enum EnvironmentOptions {
    static func merged(arguments: [String], environment: [String: String], optionNames: [String]) -> [String] {
        var merged = arguments
        for name in optionNames {
            let flag = "--" + name
            let alreadyGiven = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            let key = "TERND_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            guard !alreadyGiven, let value = environment[key], !value.isEmpty else { continue }
            merged.append(flag + "=" + value)
        }
        return merged
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
