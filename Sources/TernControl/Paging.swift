/// Twilio list paging: `PageSize`, `Page` and an opaque `PageToken` cursor.
///
/// Lists are ordered by a key that never changes and is never reused (a stream's creation
/// index), and tokens name a position in that order rather than an offset: following
/// `next_page_url` visits every item that lives throughout exactly once, even while others are
/// created or deleted. Tokens carry no host or path, so they survive a change of base URL.
struct PageRequest: Equatable {
    static let defaultSize = 50
    static let maxSize = 1000

    var size: Int
    /// Client state only (Twilio: "simply for client state"); echoed, never used to select.
    var page: Int
    var token: PageToken?

    init(size: Int = PageRequest.defaultSize, page: Int = 0, token: PageToken? = nil) {
        self.size = size
        self.page = page
        self.token = token
    }

    init(query: FormFields) throws(ControlError) {
        self.init()
        if let text = query.text("PageSize") {
            guard let text, let size = Int(text), (1...PageRequest.maxSize).contains(size) else {
                throw .invalidPageSize
            }
            self.size = size
        }
        if let text = query.text("Page"), let text, let page = Int(text), page >= 0 {
            self.page = page
        }
        if let text = query.text("PageToken") {
            guard let text, let token = PageToken(text) else { throw .invalidPageToken }
            self.token = token
        }
    }
}

/// A cursor: the items after (`PA`) or before (`PB`) the item with this key.
enum PageToken: Equatable {
    case after(UInt64)
    case before(UInt64)

    init?(_ text: String) {
        guard text.utf8.count > 2, let key = UInt64(text.dropFirst(2)) else {
            return nil
        }
        switch text.prefix(2) {
        case "PA": self = .after(key)
        case "PB": self = .before(key)
        default: return nil
        }
    }

    var text: String {
        switch self {
        case .after(let key): return "PA\(key)"
        case .before(let key): return "PB\(key)"
        }
    }
}

/// One page cut from a list sorted by ascending key, with the cursors to its neighbours.
struct Page<Item> {
    var items: [Item]
    var next: PageToken?
    var previous: PageToken?

    init(of sorted: [Item], request: PageRequest, key: (Item) -> UInt64) {
        let window: ArraySlice<Item>
        switch request.token {
        case nil:
            window = sorted.prefix(request.size)
        case .after(let cursor)?:
            let start = sorted.firstIndex { key($0) > cursor } ?? sorted.endIndex
            window = sorted[start...].prefix(request.size)
        case .before(let cursor)?:
            let end = sorted.firstIndex { key($0) >= cursor } ?? sorted.endIndex
            window = sorted[..<end].suffix(request.size)
        }
        items = Array(window)
        next = window.last.flatMap { last in window.endIndex < sorted.endIndex ? .after(key(last)) : nil }
        previous = window.first.flatMap { first in window.startIndex > sorted.startIndex ? .before(key(first)) : nil }
    }
}

extension JSONObject {
    /// Twilio's `meta` block. `listURL` is the absolute list URL without a query.
    mutating func pagingMeta<Item>(listKey: String, listURL: String, request: PageRequest, page: Page<Item>) {
        func pageURL(_ number: Int, _ token: PageToken?) -> String {
            var url = "\(listURL)?PageSize=\(request.size)&Page=\(number)"
            if let token { url += "&PageToken=\(token.text)" }
            return url
        }
        object("meta") { meta in
            meta.field("first_page_url", pageURL(0, nil))
            meta.field("key", listKey)
            // `Page` is the client's own number ("simply for client state"): Int.max must not trap.
            meta.field("next_page_url", page.next.map { pageURL(request.page == .max ? .max : request.page + 1, $0) })
            meta.field("page", request.page)
            meta.field("page_size", request.size)
            meta.field("previous_page_url", page.previous.map { pageURL(max(request.page - 1, 0), $0) })
            meta.field("url", pageURL(request.page, request.token))
        }
    }
}
