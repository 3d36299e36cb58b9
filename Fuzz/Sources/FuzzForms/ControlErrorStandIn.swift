/// Stands in for TernControl's `ControlError`, which needs Hummingbird for its HTTP status: just
/// the errors Paging.swift throws, with their Twilio codes. If Paging.swift starts throwing
/// another, this target stops compiling, and the error is added here.
struct ControlError: Error, Equatable {
    var code: Int

    static let invalidPageSize = ControlError(code: 54454)
    static let invalidPageToken = ControlError(code: 54453)
}
