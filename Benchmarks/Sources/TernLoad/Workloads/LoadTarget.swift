import TernClient

/// How the generator reaches a ternd beyond its data port: the control port (streams are created
/// over REST) and the credentials, as `tern` takes them.
public struct TernEndpoint: Sendable {
    public var controlURL: String
    public var serviceSid: String?
    public var accountSid: String?
    public var authToken: String?
    /// The token every data-port connection presents in HELLO: an Access Token, else the auth
    /// token (what a server with `--auth required` wants), else none.
    public var accessToken: String?

    public init(
        controlURL: String,
        serviceSid: String? = nil,
        accountSid: String? = nil,
        authToken: String? = nil,
        accessToken: String? = nil
    ) {
        self.controlURL = controlURL
        self.serviceSid = serviceSid
        self.accountSid = accountSid
        self.authToken = authToken
        self.accessToken = accessToken
    }

    var helloToken: String { accessToken ?? authToken ?? "" }

    func makeControlClient() throws -> ControlClient {
        var credentials: ControlClient.Credentials?
        if let accountSid, let authToken {
            credentials = ControlClient.Credentials(accountSid: accountSid, authToken: authToken)
        }
        return try ControlClient(baseURL: controlURL, serviceSid: serviceSid, credentials: credentials)
    }
}

/// How Tern subscribers get their messages.
public enum TernDelivery: Sendable, Equatable {
    /// Over their socket (TCP or the Unix socket), as every other broker's.
    case socket
    /// From the stream's ring mapped in shared memory (over the Unix socket), read on
    /// `readerThreads` threads; `spin`: readers never sleep.
    case sharedMemory(spin: Bool, readerThreads: Int)
}

/// Which broker a run measures and where it is: runs a workload against it with that broker's
/// adapter. Everything after setup is the same code for every broker.
public struct LoadTarget: Sendable {
    public var broker: BenchBrokerKind
    public var address: String
    /// Used when `broker` is `.tern`.
    public var tern: TernEndpoint
    /// Used when `broker` is `.tern`.
    public var ternDelivery: TernDelivery
    /// Tern: data addresses the subscribers connect to in turn (other nodes of a cluster); empty:
    /// `address`, where the publisher and setup go.
    public var ternSubscriberAddresses: [String] = []
    /// CPUs for the publisher threads and the receiving thread (`BenchRun.publisherCPU`,
    /// `receiverCPU`), for every broker; nil: the scheduler's choice.
    public var publisherCPU: Int?
    public var receiverCPU: Int?
    /// `BenchRun.inlinePublisher`, for every run of this target.
    public var inlinePublisher = false

    public init(broker: BenchBrokerKind, address: String, tern: TernEndpoint, ternDelivery: TernDelivery = .socket) {
        self.broker = broker
        self.address = address
        self.tern = tern
        self.ternDelivery = ternDelivery
    }

    /// Names for this run's NATS subjects and Redis channels, fresh each run.
    private var runPrefix: String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }

    /// Runs `plan`. With one stream, `fixedStream` names it (created if missing, kept); Tern's
    /// streams of multi-stream runs are `<ternStreamPrefix>-<index>`.
    public func run(
        _ plan: BenchRun,
        fixedStream: String? = nil,
        ternStreamPrefix: String = "bench-stream"
    ) throws
        -> BenchReport
    {
        var plan = plan
        plan.publisherCPU = publisherCPU ?? plan.publisherCPU
        plan.receiverCPU = receiverCPU ?? plan.receiverCPU
        plan.inlinePublisher = inlinePublisher || plan.inlinePublisher
        switch broker {
        case .tern:
            var peer = TernBenchPeer(
                dataAddress: address,
                endpoint: tern,
                fixedStream: fixedStream,
                streamPrefix: ternStreamPrefix
            )
            peer.subscriberAddresses = ternSubscriberAddresses
            if case .sharedMemory(let spin, let threads) = ternDelivery {
                return try plan.executeMapped(&peer, address: address, spin: spin, readerThreads: threads)
            }
            return try plan.execute(&peer, broker: broker, address: address)
        case .nats:
            var peer = NATSBenchPeer(address: address, subjectPrefix: fixedStream ?? "bench.\(runPrefix)")
            return try plan.execute(&peer, broker: broker, address: address)
        case .redis:
            var peer = RedisBenchPeer(address: address, channelPrefix: fixedStream ?? "bench:\(runPrefix)")
            return try plan.execute(&peer, broker: broker, address: address)
        case .relay:
            var peer = RelayBenchPeer(address: address)
            return try plan.execute(&peer, broker: broker, address: address)
        }
    }

    public func runIdle(_ idle: BenchIdleRun) throws -> IdleReport {
        switch broker {
        case .tern:
            var peer = TernBenchPeer(dataAddress: address, endpoint: tern, fixedStream: nil, streamPrefix: "bench-idle")
            return try idle.execute(&peer, broker: broker, address: address)
        case .nats:
            var peer = NATSBenchPeer(address: address, subjectPrefix: "bench.\(runPrefix)")
            return try idle.execute(&peer, broker: broker, address: address)
        case .redis:
            var peer = RedisBenchPeer(address: address, channelPrefix: "bench:\(runPrefix)")
            return try idle.execute(&peer, broker: broker, address: address)
        case .relay:
            var peer = RelayBenchPeer(address: address)
            return try idle.execute(&peer, broker: broker, address: address)
        }
    }
}
