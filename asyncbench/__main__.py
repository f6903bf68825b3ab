"""`python -m asyncbench [overrides]`: the command line (asyncbench.app)."""

from asyncbench.helper_processes import start_forkserver

if __name__ == "__main__":
    # First, before the app imports torch: the forkserver imports it meanwhile, on another core, and the
    # workers start from there at once, each taking this process's environment as it is by then
    # (helper_processes.take_environment). A run with another start method leaves it idle.
    start_forkserver()
    from asyncbench.app import main

    main()
