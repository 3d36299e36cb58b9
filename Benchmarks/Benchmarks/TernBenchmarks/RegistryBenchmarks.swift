import Benchmark
import TernCore

/// `Broker.stream(named:)`: what every SUBSCRIBE costs, by unique name and by sid, with 10,000
/// streams registered (the manystreams workload's size).
func registerRegistryBenchmarks() {
    Benchmark("Registry: stream(named:) by unique name, 10k streams", configuration: BenchSettings.measured()) {
        benchmark in
        let (broker, streams) = makeBrokerWithStreams(count: 10_000)
        let names = streams.map { $0.uniqueName ?? "" }
        var found = 0
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            if (try? broker.stream(named: names[index % names.count])) != nil { found += 1 }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    }

    Benchmark("Registry: stream(named:) by sid, 10k streams", configuration: BenchSettings.measured()) { benchmark in
        let (broker, streams) = makeBrokerWithStreams(count: 10_000)
        let sids = streams.map(\.sid)
        var found = 0
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            if (try? broker.stream(named: sids[index % sids.count])) != nil { found += 1 }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    }

    Benchmark("Registry: stream(id:), 10k streams", configuration: BenchSettings.allocationFree()) { benchmark in
        let (broker, streams) = makeBrokerWithStreams(count: 10_000)
        let ids = streams.map(\.id)
        var found = 0
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations where broker.stream(id: ids[index % ids.count]) != nil {
            found += 1
        }
        benchmark.stopMeasurement()
        blackHole(found)
    }
}

func makeBrokerWithStreams(count: Int) -> (Broker, [BrokerStream]) {
    let broker = try! Broker(
        limits: BrokerLimits(),
        accountSid: Sid.generate(.account),
        defaultServiceSid: Sid.generate(.service)
    )
    let streams = (0..<count).map { index in
        try! broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: "bench-\(index)", ttl: nil)
    }
    return (broker, streams)
}
