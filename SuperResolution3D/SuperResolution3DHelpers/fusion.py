"""Fusing thick-slice stack nodes of one session (``sr3d fuse``) in a background process, for the Logic's
``startFusion``. Each stack is written with its parent transforms applied (a rigid registration done in Slicer moves
a stack where it belongs); the fused volume comes back as a new node in world coordinates."""

import os

from .locations import LIBRARY_PACKAGE
from .process import SuperResolutionProcess, writeVolumeNode


def worldVolumeNode(volumeNode):
    """``volumeNode`` itself, or, under a linear parent transform, a node outside the scene with the same voxels and the
    transform applied to its geometry. ``ValueError`` for a non-linear transform (harden it first)."""
    import slicer
    import vtk

    parent = volumeNode.GetParentTransformNode()
    if parent is None:
        return volumeNode
    if not parent.IsTransformToWorldLinear():
        raise ValueError(f"'{volumeNode.GetName()}' is under a non-linear transform: harden it first (Data module, "
                         "right-click the transform, Harden transform), then fuse")
    toWorld, ijkToRAS = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(toWorld)
    volumeNode.GetIJKToRASMatrix(ijkToRAS)
    vtk.vtkMatrix4x4.Multiply4x4(toWorld, ijkToRAS, ijkToRAS)
    world = slicer.vtkMRMLScalarVolumeNode()
    world.SetAndObserveImageData(volumeNode.GetImageData())
    world.SetIJKToRASMatrix(ijkToRAS)
    return world


def fusionStackNodes(inputNode, checkedNodes):
    """The stacks the panel fuses, in order: the input volume first (the result has its field of view and direction),
    then the ticked ones, each once."""
    stacks = []
    for node in [inputNode, *checkedNodes]:
        if node is not None and all(node.GetID() != other.GetID() for other in stacks):
            stacks.append(node)
    return stacks


def fusionModel(logic, model, firstStack):
    """The model the panel fuses with: the selected one where it works across slices (a through-plane model or an
    interpolation), else ``default`` (the bundled through-plane model: an isotropic model cannot fuse stacks)."""
    try:
        return model if model and logic.throughPlane(firstStack, model) else "default"
    except Exception:  # noqa: BLE001 - an unreadable model file: the bundled one, and the card shows the error
        return "default"


def fusionReadiness(logic, stackNodes):
    """``(ready, reason)`` for the panel's Fuse button: two or more stacks, each with thick slices."""
    if not stackNodes:
        return False, "Select an input volume: the first stack"
    if len(stackNodes) < 2:
        return False, "Tick at least one other stack of the same session"
    for node in stackNodes:
        if logic.thickSlices(node) is None:
            return False, f"'{node.GetName()}' has no thick slices: fusing combines thick-slice stacks"
    return True, f"Fuse {len(stackNodes)} stacks into one isotropic volume on the field of view of '{stackNodes[0].GetName()}'"


class FusionProcess(SuperResolutionProcess):
    """``sr3d fuse`` of several stack nodes in a separate process: progress, cancel and the result as for one input."""

    def __init__(self, stackNodes, modelReference, settings, writeResult, python=None, progress=None, useWorker=True):
        super().__init__(stackNodes[0], modelReference, None, settings, writeResult, python, progress, useWorker)
        self.stackNodes = list(stackNodes)

    def stackPath(self, index):
        return os.path.join(self.tempDir, "input", f"stack{index + 1}.nrrd")

    def writeInputs(self):
        for index, node in enumerate(self.stackNodes):
            writeVolumeNode(worldVolumeNode(node), self.stackPath(index))

    def command(self):
        s = self.settings
        return [self.python, "-m", f"{LIBRARY_PACKAGE}.cli", "fuse",
                *[self.stackPath(index) for index in range(len(self.stackNodes))], self.outputPath,
                "--model", str(self.modelReference), "--device", s["device"], "--precision", s["precision"],
                "--progress", "lines", "--fov", s.get("field_of_view", "first")] + (["--register"] if s.get("register") else [])


def startFusionProcess(logic, stackNodes, model, device, progress, python, warmWorker=True, precision="auto",
                       register=False, fieldOfView="first"):
    """Check the stack nodes and start ``FusionProcess``; the result becomes a new node ``<first stack>_fused``.
    ``register``: ``sr3d fuse --register`` (the patient moved between the series); ``fieldOfView``: ``first`` (the
    first stack's) or ``union`` (every stack's), ``sr3d fuse --fov``."""
    from SuperResolution3DLib.core.errors import InputVolumeError

    stackNodes = [node for node in stackNodes if node is not None]
    if len(stackNodes) < 2:
        raise InputVolumeError("fusing needs at least two stacks of one session")
    for node in stackNodes:
        logic.checkInputVolume(node)
        worldVolumeNode(node)  # a non-linear transform is refused before anything starts
    first = stackNodes[0]

    def writeResult(imageData, ijkToRAS):
        scene = first.GetScene()
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(f"{first.GetName()}_fused"))
        node = logic.setOutputVolume(first, node, imageData, ijkToRAS, (1, 1, 1))
        node.SetAndObserveTransformNodeID(None)  # in world coordinates: the stacks' transforms are applied
        return node

    job = FusionProcess(stackNodes, model, dict(device=str(device), precision=str(precision), register=bool(register),
                                                field_of_view=str(fieldOfView)),
                        writeResult,
                        python=python, progress=progress, useWorker=warmWorker)
    job.start()
    return job
