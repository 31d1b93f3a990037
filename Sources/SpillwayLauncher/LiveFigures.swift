import Dispatch
import SpillwayCore
import SpillwayMetrics
import SpillwaySystem
import Synchronization

/// Why the readers are not reading: the store is full (blocking mode), or a passthrough write
/// to spillway's own stdout/stderr has not returned (nobody reads it).
struct PauseCauses: OptionSet, Sendable {
    let rawValue: UInt8
    static let storeFull = PauseCauses(rawValue: 1)
    static let passthrough = PauseCauses(rawValue: 2)
}

/// The pipeline's figures and its backpressure episodes behind a lock, so that the metrics
/// endpoint and the stall warning read them while the pipeline's queue is busy, even blocked in a
/// passthrough write: the pipeline publishes a snapshot of what it owns, the pause clock runs live.
final class LiveFigures: Sendable {
    /// An episode: from the first cause to the last one gone.
    struct Episode {
        var number = 0
        var since: ContinuousClock.Instant
        var warned = false
    }

    private struct State {
        var published: MetricsSnapshot
        var causes: PauseCauses = []
        var episode: Episode?
        var episodes = 0
        var before = Duration.zero
        var stallCheckPending = false
    }

    private let state: Mutex<State>
    private let stallQueue = DispatchQueue(label: "spillway.stall")
    private let stallWarning: Duration
    /// Called on the stall queue once an episode lasted `stallWarning`, with its number and causes.
    private let onStall: @Sendable (_ episode: Int, _ causes: PauseCauses) -> Void

    init(
        initial: MetricsSnapshot, stallWarning: Duration,
        onStall: @escaping @Sendable (_ episode: Int, _ causes: PauseCauses) -> Void
    ) {
        state = Mutex(State(published: initial))
        self.stallWarning = stallWarning
        self.onStall = onStall
    }

    /// The pipeline's figures (the process figures and backpressure seconds are the reader's).
    var published: MetricsSnapshot {
        get { state.withLock { $0.published } }
        set { state.withLock { $0.published = newValue } }
    }

    /// Time at least one cause held, the current episode included.
    var total: Duration {
        state.withLock { s in s.before + (s.episode.map { ContinuousClock.now - $0.since } ?? .zero) }
    }

    /// One stall check at a time: a passthrough write begins and ends an episode each, and
    /// arms no timer of its own.
    func begin(_ cause: PauseCauses) {
        let arm = state.withLock { s -> Bool in
            s.causes.insert(cause)
            if s.episode == nil {
                s.episodes += 1
                s.episode = Episode(number: s.episodes, since: .now)
            }
            guard !s.stallCheckPending else { return false }
            s.stallCheckPending = true
            return true
        }
        if arm { scheduleStallCheck(after: stallWarning) }
    }

    /// Ends `cause`; returns the episode when it was the last cause (the pause is over).
    @discardableResult
    func end(_ cause: PauseCauses) -> (length: Duration, warned: Bool)? {
        state.withLock { s in
            s.causes.remove(cause)
            guard s.causes.isEmpty, let episode = s.episode else { return nil }
            let length = ContinuousClock.now - episode.since
            s.before += length
            s.episode = nil
            return (length, episode.warned)
        }
    }

    /// Marks episode `number` warned if it still runs; false when it ended meanwhile.
    func markWarned(_ number: Int) -> Bool {
        state.withLock { s in
            guard s.episode?.number == number, s.episode?.warned == false else { return false }
            s.episode?.warned = true
            return true
        }
    }

    /// How often a warned episode is looked at until it ends (never a busy loop, even for a 1ms warning).
    private var recheck: Duration { max(stallWarning, .milliseconds(100)) }

    private enum StallCheck {
        case idle
        case again(after: Duration)
        case due(episode: Int, causes: PauseCauses)
    }

    /// Runs while an episode may need a warning, at most `recheck` apart: a warning is on time
    /// (late by up to 100 ms only with a shorter SPILLWAY_STALL_WARNING).
    private func scheduleStallCheck(after delay: Duration) {
        stallQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: max(0, delay.nanoseconds)))) { [self] in
            let check = state.withLock { s -> StallCheck in
                guard let episode = s.episode else {
                    s.stallCheckPending = false
                    return .idle
                }
                let left = stallWarning - (ContinuousClock.now - episode.since)
                if episode.warned { return .again(after: recheck) }
                return left > .zero ? .again(after: left) : .due(episode: episode.number, causes: s.causes)
            }
            switch check {
            case .idle: break
            case .again(let delay): scheduleStallCheck(after: delay)
            case .due(let episode, let causes):
                onStall(episode, causes)
                scheduleStallCheck(after: recheck)
            }
        }
    }
}
