"""`python -m asyncbench [overrides]`: the command line (asyncbench.app)."""

import gc

from asyncbench.helper_processes import start_forkserver

if __name__ == "__main__":
    # First, before the app imports torch: the forkserver imports it meanwhile, on another core, and the
    # workers start from there at once, each taking this process's environment as it is by then
    # (helper_processes.take_environment). A run with another start method leaves it idle.
    start_forkserver()
    from asyncbench.app import main

    try:
        main()
    finally:
        # Python's teardown at exit would walk every object torch made, for nothing, as the process ends:
        # 1.2 s of the 1.8 s it took on a slow host. Frozen, the collector leaves them be.
        gc.freeze()
