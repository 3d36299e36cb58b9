import CLoadShims

/// Pins bench threads to CPUs (`tern-bench --publisher-cpu`, `--receiver-cpu`).
enum CPUPlacement {
    static func pinCurrentThread(to cpu: Int) throws {
        let result = cload_pin_current_thread(Int32(cpu))
        guard result == 0 else { throw BenchError(call: "pthread_setaffinity_np(CPU \(cpu))", errno: result) }
    }
}
