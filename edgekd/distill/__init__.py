"""Knowledge distillation: losses (soft, hard, CED, feature hints), teachers (torch or ONNX)
and a trainer that runs in one process or under torchrun (DistributedDataParallel).

Modules: ``losses``, ``teachers``, ``trainer``, ``distributed``, ``augment``, ``pipeline``.
The whole run (train, optionally QAT, write student.pt / model.tflite / metrics.json) is
``edgekd.distill_student`` = ``edgekd.distill.pipeline.distill``.
"""
