"""Hyperparameter search on Optuna: ``ganforge tune`` and the engine ``ganforge sweep`` runs on.

- :mod:`ganforge.tune.study`: the study file (objective, search space, sampler, pruner, seeds, retries);
- :mod:`ganforge.tune.space`: the search space; :mod:`ganforge.tune.engines`: the SAMPLERS and PRUNERS;
- :mod:`ganforge.tune.draws`: each new trial drawn by its sampler seeded for that trial, never a repeat;
- :mod:`ganforge.tune.plan`: a StudyPlan (what a worker runs) and its trials' runs;
- :mod:`ganforge.tune.trial`: one trial (train, resume, evaluate, score the mean over seeds);
- :mod:`ganforge.tune.pruning`: the training callback that reports to Optuna and prunes;
- :mod:`ganforge.tune.worker`, :mod:`ganforge.tune.queue`, :mod:`ganforge.tune.storage`: the optimize loop,
  the trial budget and retries, the database.
"""
