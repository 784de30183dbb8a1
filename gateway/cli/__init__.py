"""The command line: `bayesgate serve | check-config | reload | demo | simulate`.

    main      argument parsing, check-config, reload (sends SIGHUP)
    serve     the gateway under uvicorn
    demo      the default config served in-process, with traffic driven through it
    simulate  the offline evaluator's report (the evaluator itself: policies.evaluation)
    plots     its PNG plots (matplotlib, imported only when asked for)

The top of the house: may import anything; nothing imports it. Each command imports what it
needs when it runs, so `check-config` never loads the web stack.
"""

from gateway.cli.main import main

__all__ = ["main"]
