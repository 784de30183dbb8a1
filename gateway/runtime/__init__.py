"""Assembly and lifecycle: the parts built, started, reloaded and stopped in order.

    state     Live (outlives a reload) and Generation (one config's parts)
    assemble  build_store, assemble(), start/stop of a generation, running() for the lifespan
    pool      providers and their connection pools, kept across reloads that leave them alone
    reload    SIGHUP / `bayesgate reload`: a new generation, published in one step
    server    serving(): a uvicorn server inside the running loop (demo, tests, bench)

May import everything below it (config, store, ops, routing, learning, providers); never the
web layer (gateway.http) or the CLI.
"""

from gateway.runtime.assemble import assemble, running
from gateway.runtime.state import Generation, Live

__all__ = ["Generation", "Live", "assemble", "running"]
