"""The zoo's Optuna sweeper for Hydra (``hydra/sweeper=zoo_optuna``; see ``zoo.hparams_search``).

Hydra instantiates a sweeper only from the ``hydra_plugins`` namespace package, which it scans at
start-up: this package holds the binding, ``zoo.hparams_search`` the search itself.
"""
