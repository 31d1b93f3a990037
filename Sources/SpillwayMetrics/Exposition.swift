import SpillwayCore

/// The Prometheus text exposition format (version 0.0.4) of a snapshot.
public enum Exposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ s: MetricsSnapshot) -> String {
        var out = Writer()
        let d = s.delivery
        out.family("spillway_records_read_total", "counter", "Records read from the workload's streams.")
        for stream in LogStream.allCases { out.sample("spillway_records_read_total", ["stream": stream.name], s.recordsRead[stream] ?? 0) }
        out.family("spillway_bytes_read_total", "counter", "Bytes read from the workload's streams.")
        for stream in LogStream.allCases { out.sample("spillway_bytes_read_total", ["stream": stream.name], s.bytesRead[stream] ?? 0) }
        out.family("spillway_records_delivered_total", "counter", "Records the destination acknowledged.")
        out.sample("spillway_records_delivered_total", [:], d.deliveredRecords)
        out.family("spillway_bytes_delivered_total", "counter", "Line bytes of the records the destination acknowledged.")
        out.sample("spillway_bytes_delivered_total", [:], d.deliveredBytes)
        out.family("spillway_records_dropped_total", "counter", "Records dropped, by the exit summary's reason.")
        let dropped = d.droppedByReason.merging(DropReason.withoutDetail.map { ($0, 0) }) { counted, _ in counted }
        for (reason, count) in dropped.sorted(by: { $0.key.text < $1.key.text }) {
            out.sample("spillway_records_dropped_total", ["reason": reason.text], count)
        }
        out.family("spillway_bytes_dropped_total", "counter", "Line bytes of the dropped records.")
        out.sample("spillway_bytes_dropped_total", [:], d.droppedBytes)
        out.family("spillway_disk_records_lost_total", "counter", "Records found damaged or missing in the disk buffer.")
        out.sample("spillway_disk_records_lost_total", [:], d.droppedByReason.reduce(0) { total, entry in
            if case .damaged = entry.key { return total + entry.value }
            return total
        })
        out.family("spillway_backpressure_seconds_total", "counter", "Time the readers were paused: the workload could block on logging.")
        out.sample("spillway_backpressure_seconds_total", [:], s.backpressureSeconds)
        out.family("spillway_batches_retried_total", "counter", "Batches sent again after a retryable failure.")
        out.sample("spillway_batches_retried_total", [:], d.retriedBatches)
        out.family("spillway_batches_resent_total", "counter",
                   "Batches sent to another server after the one they were in flight on failed (a receiver may hold them twice).")
        out.sample("spillway_batches_resent_total", [:], s.resentBatches)
        out.family("spillway_send_failures_total", "counter", "Sends that failed, by kind.")
        for kind in ["rejected", "retryable"] { out.sample("spillway_send_failures_total", ["kind": kind], d.failedSends[kind] ?? 0) }
        out.family("spillway_buffered_records", "gauge", "Records stored and not yet acknowledged, by store.")
        out.sample("spillway_buffered_records", ["store": s.store.kind], s.store.records)
        out.family("spillway_buffered_bytes", "gauge", "Bytes the buffered records take, by store.")
        out.sample("spillway_buffered_bytes", ["store": s.store.kind], s.store.bytes)
        if let segments = s.store.segments {
            out.family("spillway_disk_segments", "gauge", "Segment files of the disk buffer.")
            out.sample("spillway_disk_segments", [:], segments)
            out.family("spillway_disk_bytes", "gauge", "Bytes of the disk buffer's segment files.")
            out.sample("spillway_disk_bytes", [:], s.store.bytes)
        }
        out.family("spillway_destination_up", "gauge", "1 while sends succeed, 0 from a failed send until the next delivery.")
        out.sample("spillway_destination_up", [:], s.destinationUp ? 1 : 0)
        out.family("spillway_last_delivery_timestamp_seconds", "gauge", "When the destination last acknowledged a batch (Unix time).")
        out.sample("spillway_last_delivery_timestamp_seconds", [:], d.lastDelivery.map { Double($0.nanoseconds) / 1e9 } ?? 0)
        out.family("spillway_retry_delay_seconds", "gauge", "Ceiling of the current retry delay (0 while delivering).")
        out.sample("spillway_retry_delay_seconds", [:], s.retryDelaySeconds)
        out.family("spillway_delivery_latency_seconds", "histogram", "Time from read to acknowledgement of a record.")
        for (bound, count) in zip(LatencyHistogram.bounds, d.latency.cumulativeCounts) {
            out.sample("spillway_delivery_latency_seconds_bucket", ["le": number(bound)], count)
        }
        out.sample("spillway_delivery_latency_seconds_bucket", ["le": "+Inf"], d.latency.count)
        out.sample("spillway_delivery_latency_seconds_sum", [:], d.latency.sum)
        out.sample("spillway_delivery_latency_seconds_count", [:], d.latency.count)
        if let pid = s.workloadPID {
            out.family("spillway_workload_pid", "gauge", "Process id of the workload.")
            out.sample("spillway_workload_pid", [:], Int(pid))
        }
        let p = s.process
        out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        out.sample("process_start_time_seconds", [:], p.startTimeSeconds)
        out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        out.sample("process_cpu_seconds_total", [:], p.cpuSeconds)
        out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        out.sample("process_resident_memory_bytes", [:], p.residentBytes)
        out.family("process_open_fds", "gauge", "Number of open file descriptors.")
        out.sample("process_open_fds", [:], p.openFileDescriptors)
        return out.text
    }

    /// Prometheus's float text: integers without a fraction, `+Inf` spelled out.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value with `\`, `"` and newline escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    private struct Writer {
        var text = ""

        mutating func family(_ name: String, _ type: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }

        mutating func sample(_ name: String, _ labels: [String: String], _ value: Int) {
            sample(name, labels, text: String(value))
        }

        mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
            sample(name, labels, text: number(value))
        }

        private mutating func sample(_ name: String, _ labels: [String: String], text value: String) {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escaped($0.value))\"" }.joined(separator: ",") + "}"
            }
            text += " \(value)\n"
        }
    }
}
