"""asyncbench: a reproducibility suite for Mnih et al. 2016, Asynchronous Methods for Deep RL."""

__version__ = "0.1.0"
