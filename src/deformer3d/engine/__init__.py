"""Training and evaluation engine (Lightning): see train.py, evaluate.py, export.py, demo.py.

Entry points (imported lazily by the CLI): ``train.train_from_config``, ``evaluate.test_from_config``,
``export.export_checkpoint`` / ``export.load_exported``, ``demo.run_demo``.
"""
