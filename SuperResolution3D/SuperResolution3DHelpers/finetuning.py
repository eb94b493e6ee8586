"""Fine-tuning a model on volume nodes of one's own high-resolution scans (``sr3d finetune``) in a background
process, for the Logic and the panel: progress and cancel as for a super-resolution run; the result is a model file
(its card and weights) that ``--model`` and the panel's model list take, and the scene is never changed."""

import os

from .locations import LIBRARY_PACKAGE
from .process import SuperResolutionProcess, writeVolumeNode


class FineTuneProcess(SuperResolutionProcess):
    """``sr3d finetune`` of training (and held-out validation) volume nodes in a process of its own (minutes of
    training gain nothing from the warm worker's saved imports, and would keep it from serving Apply); ``writeResult``
    gets the written model file's path."""

    def __init__(self, trainNodes, validationNodes, modelReference, savePath, settings, writeResult, python=None,
                 progress=None):
        super().__init__(trainNodes[0], modelReference, None, settings, writeResult, python, progress, useWorker=False)
        self.trainNodes, self.validationNodes = list(trainNodes), list(validationNodes)
        self.savePath = str(savePath)
        self.modelPath = None

    def scanPath(self, role, index, node):
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in node.GetName()).strip("._") or role
        return os.path.join(self.tempDir, "input", f"{role}{index + 1}_{name}.nrrd")

    def writeInputs(self):
        for role, nodes in (("train", self.trainNodes), ("validation", self.validationNodes)):
            for index, node in enumerate(nodes):
                writeVolumeNode(node, self.scanPath(role, index, node))

    def command(self):
        s = self.settings
        command = [self.python, "-m", f"{LIBRARY_PACKAGE}.cli", "finetune",
                   *[self.scanPath("train", i, node) for i, node in enumerate(self.trainNodes)],
                   "--out", self.savePath, "--model", str(self.modelReference), "--minutes", str(s["minutes"]),
                   "--device", s["device"], "--progress", "lines"]
        if self.validationNodes:
            command += ["--validation", *[self.scanPath("validation", i, node) for i, node in enumerate(self.validationNodes)]]
        if s.get("steps"):
            command += ["--steps", str(s["steps"])]
        return command

    def _readResult(self):
        if not os.path.isfile(self.savePath):
            raise RuntimeError(f"the fine-tuning process wrote no model ({self.savePath})")
        self.modelPath = self.savePath
        return self.writeResult(self.savePath)


def trainedAndHeldOut(trainNodes, validationNodes):
    """Whether a node is among both the training and the held-out volumes."""
    return bool({node.GetID() for node in trainNodes} & {node.GetID() for node in validationNodes})


def startFineTuneProcess(logic, trainNodes, savePath, model, validationNodes, minutes, device, progress, python,
                         steps=None):
    """Check the nodes and the model file to write, and start ``FineTuneProcess``; ``job.modelPath`` is the written
    model file once the job has completed (``None`` before, or when it failed or was cancelled)."""
    from SuperResolution3DLib.core.config import FineTuneSettings
    from SuperResolution3DLib.core.errors import InputVolumeError
    from SuperResolution3DLib.models.card import new_model_card_path

    trainNodes = [node for node in trainNodes if node is not None]
    validationNodes = [node for node in (validationNodes or []) if node is not None]
    if not trainNodes:
        raise InputVolumeError("fine-tuning needs at least one high-resolution training volume")
    if trainedAndHeldOut(trainNodes, validationNodes):
        raise InputVolumeError("a volume is both a training and a validation volume; validation volumes must be held out")
    for node in trainNodes + validationNodes:
        logic.checkInputVolume(node)
    try:
        FineTuneSettings(minutes=float(minutes), steps=steps)
    except ValueError as error:
        raise InputVolumeError(f"fine-tuning: {error}") from None
    savePath = new_model_card_path(savePath, "the fine-tuned model's file")
    job = FineTuneProcess(trainNodes, validationNodes, model, savePath,
                          dict(minutes=float(minutes), device=str(device), steps=steps),
                          lambda path: path, python=python, progress=progress)
    job.start()
    return job


def finetuneReadiness(logic, trainNodes, validationNodes, model, savePath):
    """``(ready, reason)`` for the panel's Fine-tune button."""
    if not trainNodes:
        return False, "Tick the high-resolution volumes to train on"
    if model in logic.interpolationModels():
        return False, f"{model} is an interpolation, with no weights to fine-tune: select a model"
    if trainedAndHeldOut(trainNodes, validationNodes):
        return False, "A volume is ticked for both training and held out: untick one"
    if not str(savePath or "").strip():
        return False, "Give the model file to write (Save model as)"
    return True, f"Fine-tune {os.path.basename(str(model))} on {len(trainNodes)} volume(s)"


def finishedText(job):
    """The panel's status line for a completed fine-tune: the model file, the held-out score before and after, and a
    note where the fine-tuned model scored lower."""
    from .process import warningsText

    scores = [line.strip() for line in job.log if line.startswith("validation patches")]
    return (f"Fine-tuned in {job.elapsed / 60:.1f} min: model saved to {job.modelPath} and selected"
            + "".join(f"\n{line}" for line in scores) + warningsText(job))
