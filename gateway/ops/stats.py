"""This replica's counters: selections, failovers, failures, tokens and cost, recent shares."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

RECENT = 100
MAX_ERROR_PATHS = 100  # distinct paths kept in `errors`: clients choose them, memory is ours


@dataclass(slots=True)
class ModelCounters:
    selections: int = 0  # chosen first by the policy
    failover_attempts: int = 0  # tried after another candidate failed
    answers: int = 0
    failures: int = 0
    invalid: int = 0
    changes: int = 0  # times this replica's learner saw the model change (policies.change)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    doors: Counter[str] = field(default_factory=Counter)  # answers by front door
    signals: Counter[str] = field(default_factory=Counter)  # answers by warning signal
    # The last `RECENT` scores and valid answers' latencies (TTFT for streams), for /stats.
    rewards: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))


@dataclass(slots=True)
class Stats:
    window: int = 100
    models: dict[tuple[str, str], ModelCounters] = field(default_factory=dict)
    recent: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    requests: Counter[str] = field(default_factory=Counter)
    doors: Counter[str] = field(default_factory=Counter)  # requests by front door
    # path -> status -> requests answered with an error (at most MAX_ERROR_PATHS paths)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    client_disconnects: int = 0
    learning_dropped: int = 0
    # (route, class, model) -> times the policy chose the model first for a request of the class
    class_selections: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def counters(self, route: str, model: str) -> ModelCounters:
        key = (route, model)
        found = self.models.get(key)
        if found is None:
            found = self.models[key] = ModelCounters()
        return found

    def error(self, path: str, status: int) -> None:
        """Count a request answered with an error; paths past the bound count as "(other)"."""
        counts = self.errors.get(path)
        if counts is None:
            if len(self.errors) >= MAX_ERROR_PATHS:
                path = "(other)"
            counts = self.errors.setdefault(path, Counter())
        counts[str(status)] += 1

    def selected(self, route: str, model: str, cls: str = "") -> None:
        self.counters(route, model).selections += 1
        if cls:
            self.class_selections[(route, cls, model)] += 1
        recent = self.recent[route]
        recent.append(model)
        if len(recent) > self.window:
            recent.popleft()

    def share(self, route: str) -> dict[str, float]:
        recent = self.recent.get(route)
        if not recent:
            return {}
        counts = Counter(recent)
        return {model: n / len(recent) for model, n in counts.items()}
