"""The paper's studies on SynthActions at equal training budget: ``python -m benchmarks --suite ablation|tokens|windows|frames``.

Every run is ``benchmarks/configs/study.yaml`` + the study's overrides + a seed, trained and tested by the engine
(:func:`deformer3d.engine.train.train_from_config`: the one training path of the project). Runs are cached under
``runs/bench/studies/<key>/`` (key = base config + data + overrides + seed), so a variant shared by two studies (the
full model is the reference of all four) trains once, and an interrupted study resumes where it stopped.

- ``ablation`` (Table 4): full model; without 3D deformable / joint stride / temporal stride attention.
- ``attention`` (App. A1 / A2, accuracy side): each of the three modules replaced by full attention.
- ``tokens`` (Table 5): cross-modal tokens (M_CLS, M_RGB, M_pose) vs one shared token vs none.
- ``windows`` (Fig. 7a): temporal window size x stride.
- ``frames`` (Fig. 7b, Fig. A1): number of training frames, each model also tested with fewer / more frames.
"""
