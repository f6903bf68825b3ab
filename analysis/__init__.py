"""From a sweep's runs to Mnih et al. 2016's tables and figures: `python -m analysis report RESULTS_DIR`.

Reads only what `python -m asyncbench` wrote (run.json and the CSV files of each run directory).
"""
