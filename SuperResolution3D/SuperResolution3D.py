"""SuperResolution3D: 4x 3D super-resolution of CT and MRI volumes in 3D Slicer (3D RRDB network).

The module is a thin Qt panel (``SuperResolution3DWidget``) over ``SuperResolution3DLogic``, which does all
the work and is what scripts use::

    logic = slicer.util.getModuleLogic("SuperResolution3D")
    outputNode = logic.process(slicer.util.getNode("MRHead"), model="default", device="auto")

Heavy packages (torch, monai) are never imported when this file is imported: the synchronous path
(``process``) imports the library inside the call, and the panel runs the library's command line in a
separate Python process (``SuperResolutionProcess``) so that Slicer stays responsive and a run can be
cancelled by killing that process.

Geometry: Slicer nodes are RAS, the library is ITK LPS (arrays ``[z, y, x]``, triples ``(x, y, z)``).
LPS and RAS differ by the sign of the first two rows of the origin and of the direction matrix.
"""

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import vtk

import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer < 5.4
    def _(text):
        return text


MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
LIBRARY_PACKAGE = "SuperResolution3DLib"
INTERPOLATION_MODELS = ("trilinear", "bspline", "nearest")  # the library's baselines, in the order the panel lists them
GPU_OUT_OF_MEMORY_ERROR = "GPUOutOfMemoryError"  # the library's error class (the CLI's "ERROR <kind> <message>" line)
TORCH_REQUIREMENT = "torch>=2.1"
# Distribution name -> import name, for the packages of requirements.txt that import under another name.
IMPORT_NAMES = {"pyyaml": "yaml", "pillow": "PIL", "simpleitk": "SimpleITK"}
FALLBACK_REQUIREMENTS = [
    "monai>=1.3", "numpy>=1.23", "SimpleITK>=2.2", "safetensors>=0.4", "PyYAML>=6.0", "tqdm>=4.60", "Pillow>=9.0",
]
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse: also RAS from LPS
SMALLEST_RETRY_WINDOW = 16
PAPER_CITATION = (
    "Ha J, Wang N, Maharjan S, Zhang X. 3D Volumetric Super-Resolution in Radiology Using 3D RRDB-GAN. "
    "arXiv:2402.04171 (2024)."
)


# Where things are -------------------------------------------------------------------------------------
def findFile(relativePath):
    """``relativePath`` next to this file (installed extension) or one folder up (source checkout); else None."""
    for base in (MODULE_DIR, os.path.dirname(MODULE_DIR)):
        candidate = os.path.join(base, relativePath)
        if os.path.exists(candidate):
            return candidate
    return None


def libraryRootDir():
    """The folder that holds the ``SuperResolution3DLib`` package (installed next to the module file)."""
    initFile = findFile(os.path.join(LIBRARY_PACKAGE, "__init__.py"))
    if initFile is None:
        raise RuntimeError(
            f"{LIBRARY_PACKAGE} was not found next to {MODULE_DIR} nor one folder up; reinstall the extension"
        )
    return os.path.dirname(os.path.dirname(initFile))


def ensureLibraryImportable():
    """Put the library shipped with this module first on ``sys.path`` (cheap: nothing is imported)."""
    root = libraryRootDir()
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


def modelCards():
    """The library's model card module (``SuperResolution3DLib.models.card``): standard library only, no torch."""
    from SuperResolution3DLib.models import card as model_card

    return model_card


def modelsDir():
    """Bundled models: ``$SR3D_MODELS_DIR`` if set, else ``Resources/Models`` beside the library (its rule)."""
    return str(modelCards().models_dir())


def listBundledModels():
    """Names of the model cards in ``modelsDir()`` (read as JSON: no torch needed)."""
    return modelCards().list_bundled_models()


def pythonExecutable():
    """The Python that runs the background process: ``PythonSlicer`` inside Slicer, else this Python."""
    return shutil.which("PythonSlicer") or sys.executable


ensureLibraryImportable()


# Geometry: MRML node (RAS) <-> library (LPS) ----------------------------------------------------------
def lpsGeometryFromNode(volumeNode):
    """``(spacing, origin, direction)`` of a volume node in the library's ITK LPS convention."""
    directions = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASDirectionMatrix(directions)
    rasDirection = np.array([[directions.GetElement(r, c) for c in range(3)] for r in range(3)])
    origin = LPS_FROM_RAS @ np.asarray(volumeNode.GetOrigin(), dtype=float)
    direction = LPS_FROM_RAS @ rasDirection
    return tuple(volumeNode.GetSpacing()), tuple(origin), tuple(direction.ravel())


def ijkToRASFromLPSGeometry(spacing, origin, direction):
    """The 4x4 IJKToRAS matrix (numpy) of an LPS ``(spacing, origin, direction)`` geometry."""
    matrix = np.eye(4)
    matrix[:3, :3] = LPS_FROM_RAS @ np.asarray(direction, dtype=float).reshape(3, 3) * np.asarray(spacing, dtype=float)
    matrix[:3, 3] = LPS_FROM_RAS @ np.asarray(origin, dtype=float)
    return matrix


def vtkMatrixFromArray(array):
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r][c]))
    return matrix


def arrayFromVtkMatrix(matrix):
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def ijkToRASOf(volumeNode):
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return arrayFromVtkMatrix(matrix)


def roiCornersRAS(roiNode):
    """The 8 corners (world RAS, parent transforms applied) of a Markups ROI node's box."""
    size = np.asarray(roiNode.GetSize(), dtype=float)
    objectToWorld = arrayFromVtkMatrix(roiNode.GetObjectToWorldMatrix())
    corners = []
    for sx in (-0.5, 0.5):
        for sy in (-0.5, 0.5):
            for sz in (-0.5, 0.5):
                corners.append((objectToWorld @ np.array([sx * size[0], sy * size[1], sz * size[2], 1.0]))[:3])
    return np.array(corners)


def roiVoxelBox(roiNode, volumeNode):
    """The input voxels whose centres lie in the ROI's box: ``(start, size)`` in ``(x, y, z)`` = (i, j, k).

    The ROI (with its transforms) is taken to world RAS, then into the volume's own coordinates (through
    the inverse of the volume's parent transform) and to IJK; the box is the bounding box of the corners
    in IJK, clipped to the volume. Raises ``InputVolumeError`` when it holds fewer than 2 voxels along an axis.
    """
    from SuperResolution3DLib.core.errors import InputVolumeError

    corners = roiCornersRAS(roiNode)
    parent = volumeNode.GetParentTransformNode()
    if parent is not None:
        worldToVolume = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, parent, worldToVolume)
        corners = np.array([worldToVolume.TransformPoint(*corner) for corner in corners])
    rasToIJK = np.linalg.inv(ijkToRASOf(volumeNode))
    ijk = (rasToIJK @ np.c_[corners, np.ones(len(corners))].T)[:3].T
    dimensions = np.asarray(volumeNode.GetImageData().GetDimensions())
    low = np.maximum(np.ceil(ijk.min(axis=0) - 1e-4), 0).astype(int)
    high = np.minimum(np.floor(ijk.max(axis=0) + 1e-4), dimensions - 1).astype(int)
    size = high - low + 1
    if np.any(size < 2):
        raise InputVolumeError(
            f"the region of interest '{roiNode.GetName()}' covers {max(0, int(size.min()))} voxel(s) along an axis "
            f"of '{volumeNode.GetName()}' (voxels {tuple(low)} to {tuple(high)}); it must overlap the volume "
            "by at least 2 voxels along every axis: move or enlarge the ROI"
        )
    return tuple(int(v) for v in low), tuple(int(v) for v in size)


def scaleText(scale):
    scale = [int(s) for s in scale]
    return str(scale[0]) if len(set(scale)) == 1 else "x".join(map(str, scale))


# Module ---------------------------------------------------------------------------------------------
class SuperResolution3D(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Super Resolution 3D")
        self.parent.categories = [_("Filtering")]
        self.parent.dependencies = []
        self.parent.contributors = ["SuperResolution3D contributors"]
        self.parent.helpText = _("""
Makes a CT or MRI volume 4x sharper along every axis with a 3D RRDB network (the generator of the
3D RRDB-GAN). The output overlays the input exactly (same origin and directions, spacing / 4) and keeps
its intensity units.
<ol>
<li>Pick the <b>input volume</b> (a 3D scalar volume; not a label map or a color/vector volume).</li>
<li>Leave <b>output volume</b> on "Create new volume" (it is named after the input and the scale), or pick one to overwrite.</li>
<li>Pick a <b>model</b>: a bundled model, an interpolation baseline, or a model file (.json + .safetensors)
from disk. Its card (scale, training data, metrics) is shown below it.</li>
<li>Optionally enable <b>region of interest</b> and pick a Markups ROI: only that box is super-resolved,
which is much faster and needs far less memory (the whole 4x output has 64x the voxels of the input).</li>
<li><b>Device</b>: auto uses CUDA when available, else the CPU. Advanced: window (input voxels per
network call), overlap, batch and precision (bf16/fp16 on CUDA only).</li>
<li>Press <b>Apply</b>. The work runs in a separate process: Slicer stays responsive and Apply turns into
Cancel. The result is shown with the input as foreground for comparison.</li>
</ol>
On first use the required Python packages (PyTorch, MONAI, safetensors...) are listed and installed only
after you confirm. From the Python console:
<pre>logic = slicer.util.getModuleLogic("SuperResolution3D")
out = logic.process(slicer.util.getNode("MRHead"), device="cpu")</pre>
""")
        self.parent.acknowledgementText = _(
            "The network follows the 3D RRDB-GAN of: " + PAPER_CITATION
            + " Built on MONAI, PyTorch and the 3D Slicer extension template."
        )


# Logic ----------------------------------------------------------------------------------------------
class SuperResolution3DLogic(ScriptedLoadableModuleLogic):
    """Everything the module does, usable from the Python console without the panel.

    ``process`` runs synchronously in Slicer's process and returns the output node; ``startProcess``
    starts the same work in a separate Python process and returns a ``SuperResolutionProcess`` to poll.
    """

    DEFAULT_PARAMETERS = {
        "Model": "default",
        "Device": "auto",
        "Window": "64",
        "Overlap": "0.125",
        "Batch": "1",
        "Precision": "fp32",
        "UseROI": "false",
        "ShowResult": "true",
    }

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)

    # Parameter node ---------------------------------------------------------------------------------
    def setDefaultParameters(self, parameterNode):
        """Fill the parameters that are not set yet (they are saved with the scene)."""
        for name, value in self.DEFAULT_PARAMETERS.items():
            if not parameterNode.GetParameter(name):
                parameterNode.SetParameter(name, value)

    # Checks -----------------------------------------------------------------------------------------
    @staticmethod
    def checkInputVolume(volumeNode):
        """Raise ``InputVolumeError`` (a ``ValueError``) with a clear message if the node cannot be super-resolved."""
        from SuperResolution3DLib.core.errors import InputVolumeError

        if volumeNode is None:
            raise InputVolumeError("no input volume: select a 3D scalar volume (CT or MRI) as input")
        if not hasattr(volumeNode, "IsA") or not volumeNode.IsA("vtkMRMLVolumeNode"):
            kind = volumeNode.GetClassName() if hasattr(volumeNode, "GetClassName") else type(volumeNode).__name__
            raise InputVolumeError(f"the input is a {kind}, not a volume: select a 3D scalar volume")
        name = volumeNode.GetName()
        if volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
            raise InputVolumeError(
                f"'{name}' is a label map: super-resolving label values would invent labels that do not exist; "
                "select an intensity volume (CT or MRI)"
            )
        imageData = volumeNode.GetImageData()
        components = imageData.GetNumberOfScalarComponents() if imageData is not None else 1
        if volumeNode.IsA("vtkMRMLTensorVolumeNode") or components > 1:
            raise InputVolumeError(
                f"'{name}' is a vector/color volume ({components} components per voxel): extract one scalar "
                "component first (Vector to Scalar Volume module)"
            )
        if not volumeNode.IsA("vtkMRMLScalarVolumeNode"):
            raise InputVolumeError(f"'{name}' is a {volumeNode.GetClassName()}, not a scalar volume")
        if imageData is None or imageData.GetNumberOfPoints() == 0:
            raise InputVolumeError(f"'{name}' has no voxels: load an image into it first")
        dimensions = imageData.GetDimensions()
        if min(dimensions) < 2:
            raise InputVolumeError(
                f"'{name}' is 2D ({dimensions[0]}x{dimensions[1]}x{dimensions[2]} voxels): super-resolution needs "
                "a 3D volume with at least 2 voxels along every axis"
            )

    @staticmethod
    def checkOutputVolume(inputVolumeNode, outputVolumeNode):
        from SuperResolution3DLib.core.errors import InputVolumeError

        if outputVolumeNode is None:
            return
        if outputVolumeNode is inputVolumeNode or (
            outputVolumeNode.GetID() and outputVolumeNode.GetID() == inputVolumeNode.GetID()
        ):
            raise InputVolumeError("the output volume is the input volume: choose another output (or create a new one)")
        if not outputVolumeNode.IsA("vtkMRMLScalarVolumeNode") or outputVolumeNode.IsA("vtkMRMLLabelMapVolumeNode") \
                or outputVolumeNode.IsA("vtkMRMLTensorVolumeNode"):
            raise InputVolumeError(
                f"the output '{outputVolumeNode.GetName()}' is a {outputVolumeNode.GetClassName()}; "
                "the output must be a scalar volume (or leave it empty to create one)"
            )

    # Models -----------------------------------------------------------------------------------------
    @staticmethod
    def resolveModel(model):
        """``(reference, card)`` for a bundled name, ``default``, a baseline name or a model file path.

        Only the JSON card is read and checked (no torch). Raises ``ModelFileError`` when the model or its weights
        are missing or the card is not a valid model card; the library checks the weights' checksum when it loads them.
        """
        cards = modelCards()
        model = str(model or "default")
        if model in cards.INTERPOLATION_MODES:
            return model, cards.interpolation_card(model)
        cardPath, card, _weightsPath = cards.find_model_files(model)
        return os.path.abspath(str(cardPath)), card

    @staticmethod
    def modelScale(card):
        """``(x, y, z)`` upscaling of a model card (its ``scale``, else its network's)."""
        return modelCards().card_scale(card)

    @staticmethod
    def modelCardText(card):
        """A short plain-text summary of a model card: scale, training data, metrics."""
        return modelCards().model_card_summary(card)

    # Dependencies -----------------------------------------------------------------------------------
    @staticmethod
    def requirements():
        """The library's runtime requirements: torch first, then ``requirements.txt`` (shipped with the module)."""
        path = findFile("requirements.txt")
        lines = FALLBACK_REQUIREMENTS
        if path:
            with open(path, encoding="utf-8") as stream:
                lines = [line.split("#")[0].strip() for line in stream]
        return [TORCH_REQUIREMENT] + [line for line in lines if line and not line.startswith("-")]

    @staticmethod
    def _requirementSatisfied(requirement):
        import importlib.util

        try:
            from packaging.requirements import Requirement
        except ImportError:
            Requirement = None
        if Requirement is not None:
            parsed = Requirement(requirement)
            name, specifier = parsed.name, parsed.specifier
        else:
            name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
            specifier = None
        if importlib.util.find_spec(IMPORT_NAMES.get(name.lower(), name)) is None:
            return False
        if specifier:
            try:
                from importlib.metadata import version

                return specifier.contains(version(name), prereleases=True)
            except Exception:  # no metadata (e.g. a package bundled with Slicer): trust the import
                return True
        return True

    def missingDependencies(self):
        """Requirements that are not installed (or too old); empty when everything is there."""
        return [r for r in self.requirements() if not self._requirementSatisfied(r)]

    @staticmethod
    def dependencyConfirmationText(missing):
        lines = [_("SuperResolution3D needs these Python packages, which are not installed yet:"), ""]
        lines += [f"  • {r}" for r in missing]
        lines += ["", _("PyTorch is installed with the PyTorch extension's installer when it is present, so that "
                         "the build matching your GPU (CUDA) is chosen. This downloads up to a few GB and can take "
                         "several minutes."), "", _("Install them now?")]
        return "\n".join(lines)

    def installDependencies(self, requirements):
        """Install ``requirements`` (no question asked here: callers confirm first)."""
        torch = [r for r in requirements if r.split(">")[0].split("=")[0].strip().lower() == "torch"]
        others = [r for r in requirements if r not in torch]
        if torch:
            try:
                import PyTorchUtils
            except ImportError:
                PyTorchUtils = None
            if PyTorchUtils is not None:
                torchLogic = PyTorchUtils.PyTorchUtilsLogic()
                if not torchLogic.torchInstalled():
                    version = TORCH_REQUIREMENT[len("torch"):]
                    if torchLogic.installTorch(askConfirmation=False, torchVersionRequirement=version) is None:
                        raise RuntimeError("PyTorch could not be installed; use the PyTorch Util module to install it")
            else:
                self._pipInstall(torch)
        if others:
            self._pipInstall(others)
        import importlib

        importlib.invalidate_caches()
        missing = self.missingDependencies()
        if missing:
            raise RuntimeError(f"these packages are still missing after installation: {', '.join(missing)}")

    @staticmethod
    def _pipInstall(requirements):
        try:
            import slicer.packaging

            slicer.packaging.pip_install(list(requirements))
        except (ImportError, AttributeError):
            slicer.util.pip_install(" ".join(requirements))

    def ensureDependencies(self, askConfirmation=True):
        """Install the missing packages after the user confirms a dialog that lists them; never silently.

        Returns True when everything is installed; raises ``RuntimeError`` when the user declines and
        ``MissingDependencyError`` when no dialog can be shown (no Slicer application, or askConfirmation False).
        """
        missing = self.missingDependencies()
        if not missing:
            return True
        if not askConfirmation or not hasattr(slicer, "app"):
            from SuperResolution3DLib.core.errors import MissingDependencyError

            raise MissingDependencyError(
                f"SuperResolution3D needs {', '.join(missing)}: install them first "
                f"(pip install {' '.join(repr(r) for r in missing)})"
            )
        if not slicer.util.confirmOkCancelDisplay(self.dependencyConfirmationText(missing)):
            raise RuntimeError(f"SuperResolution3D needs {', '.join(missing)}; installation declined")
        self.installDependencies(missing)
        return True

    # Devices ----------------------------------------------------------------------------------------
    DEVICE_SCRIPT = (
        "import json, torch\n"
        "devices = [dict(name=torch.cuda.get_device_name(i), "
        "memory_gb=round(torch.cuda.get_device_properties(i).total_memory / 1e9, 1)) "
        "for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []\n"
        "print('DEVICES ' + json.dumps(dict(torch=torch.__version__, cuda=bool(devices), devices=devices)))\n"
    )

    def startDeviceDetection(self):
        """Start a short process that imports torch and reports the GPUs (Slicer itself never imports torch)."""
        return subprocess.Popen(
            [pythonExecutable(), "-c", self.DEVICE_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", env=self._processEnvironment(),
        )

    @staticmethod
    def parseDeviceDetection(output):
        for line in (output or "").splitlines():
            if line.startswith("DEVICES "):
                return json.loads(line[len("DEVICES "):])
        return None

    def detectDevices(self, timeout=120):
        """``{"torch": version, "cuda": bool, "devices": [{"name", "memory_gb"}]}``, or None if torch is missing."""
        detection = self.startDeviceDetection()
        try:
            output, _unused = detection.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            detection.kill()
            return None
        return self.parseDeviceDetection(output)

    @staticmethod
    def deviceText(info):
        if info is None:
            return _("PyTorch not available yet (installed on first Apply)")
        if not info.get("cuda"):
            return _("CPU only (no CUDA GPU detected), PyTorch ") + str(info.get("torch"))
        gpus = "; ".join(f"{d['name']}, {d['memory_gb']:g} GB" for d in info["devices"])
        return f"CUDA: {gpus} (PyTorch {info.get('torch')})"

    # Volumes ----------------------------------------------------------------------------------------
    @staticmethod
    def volumeFromNode(volumeNode):
        """A library ``Volume`` (array copy ``[z, y, x]``, LPS geometry) of a scalar volume node."""
        from SuperResolution3DLib.core.volume import Volume

        array = np.array(slicer.util.arrayFromVolume(volumeNode), dtype=np.float32, copy=True)
        spacing, origin, direction = lpsGeometryFromNode(volumeNode)
        return Volume(array, spacing, origin, direction)

    @staticmethod
    def outputName(inputVolumeNode, scale):
        return f"{inputVolumeNode.GetName()}_SR{scaleText(scale)}x"

    def setOutputVolume(self, inputVolumeNode, outputVolumeNode, imageData, ijkToRAS, scale):
        """Put ``imageData`` (vtkImageData or a ``[z, y, x]`` array) and ``ijkToRAS`` into the output node.

        Creates the node (named after the input and the scale) when ``outputVolumeNode`` is None. The output
        goes under the input's parent transform, so that it overlays the input in the views.
        """
        scene = inputVolumeNode.GetScene() or slicer.mrmlScene
        if outputVolumeNode is None:
            outputVolumeNode = scene.AddNewNodeByClass(
                "vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(self.outputName(inputVolumeNode, scale))
            )
        wasModifying = outputVolumeNode.StartModify()
        try:
            if isinstance(imageData, np.ndarray):
                outputVolumeNode.SetIJKToRASMatrix(vtkMatrixFromArray(ijkToRAS))
                slicer.util.updateVolumeFromArray(outputVolumeNode, imageData)
            else:
                outputVolumeNode.SetAndObserveImageData(imageData)
                outputVolumeNode.SetIJKToRASMatrix(vtkMatrixFromArray(ijkToRAS))
            outputVolumeNode.SetAndObserveTransformNodeID(inputVolumeNode.GetTransformNodeID())
        finally:
            outputVolumeNode.EndModify(wasModifying)
        if outputVolumeNode.GetDisplayNode() is None:
            outputVolumeNode.CreateDefaultDisplayNodes()
        self._copyWindowLevel(inputVolumeNode, outputVolumeNode)
        return outputVolumeNode

    @staticmethod
    def _copyWindowLevel(inputVolumeNode, outputVolumeNode):
        source, target = inputVolumeNode.GetDisplayNode(), outputVolumeNode.GetDisplayNode()
        if source is None or target is None or not hasattr(source, "GetWindow"):
            return
        if source.GetColorNodeID():
            target.SetAndObserveColorNodeID(source.GetColorNodeID())
        if not source.GetAutoWindowLevel():
            target.SetAutoWindowLevel(False)
            target.SetWindowLevel(source.GetWindow(), source.GetLevel())

    @staticmethod
    def showResult(inputVolumeNode, outputVolumeNode):
        """Output as background, input as semi-transparent foreground in the slice views (needs the Slicer app)."""
        if not hasattr(slicer, "app"):
            return
        slicer.util.setSliceViewerLayers(
            background=outputVolumeNode, foreground=inputVolumeNode, foregroundOpacity=0.5, fit=True
        )

    # Synchronous path -------------------------------------------------------------------------------
    def _prepare(self, inputVolumeNode, outputVolumeNode, model, roiNode):
        """All checks, before anything is created: returns ``(modelReference, card, roiBox or None)``."""
        self.checkInputVolume(inputVolumeNode)
        self.checkOutputVolume(inputVolumeNode, outputVolumeNode)
        reference, card = self.resolveModel(model)
        roiBox = roiVoxelBox(roiNode, inputVolumeNode) if roiNode is not None else None
        return reference, card, roiBox

    @staticmethod
    def smallerSettings(window, batch):
        """The next, smaller try after a GPU out-of-memory error: batch 1 first, then half the window; or None."""
        if batch > 1:
            return window, 1
        if window > SMALLEST_RETRY_WINDOW:
            return max(SMALLEST_RETRY_WINDOW, window // 2), batch
        return None

    @staticmethod
    def isGpuOutOfMemory(error, kind=None):
        """Whether ``error`` (an exception or a message) is a GPU out-of-memory error.

        ``kind``: the library error's class name (the CLI's ``ERROR <kind> <message>`` line) when known; it decides.
        Else a library error decides by its class, and anything else (e.g. PyTorch's own ``OutOfMemoryError``)
        by its text.
        """
        from SuperResolution3DLib.core.errors import GPUOutOfMemoryError, SR3DError

        if kind is not None:
            return kind == GPU_OUT_OF_MEMORY_ERROR
        if isinstance(error, BaseException):
            if isinstance(error, GPUOutOfMemoryError):
                return True
            if isinstance(error, SR3DError):
                return False
        message = str(error).lower()
        return "gpu ran out of memory" in message or "cuda out of memory" in message or "outofmemoryerror" in message

    def process(self, inputVolumeNode, outputVolumeNode=None, model="default", device="auto", roiNode=None,
                progress=None, window=64, overlap=0.125, batch=1, precision="fp32", cancel=None, showResult=False):
        """Super-resolve ``inputVolumeNode`` in this process and return the output volume node.

        model: a bundled model name, ``"default"``, ``"trilinear"``/``"bspline"``/``"nearest"``, or a model ``.json``.
        device: ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"cpu"``. roiNode: a Markups ROI node; only the input
        voxels inside it are super-resolved. progress: ``callback(fraction, message)``. cancel: a callable
        returning True (or a ``threading.Event``) to stop. The output node is created (named after the input and
        the scale) when ``outputVolumeNode`` is None; nothing is added to the scene when an error is raised.
        On a GPU out-of-memory error the run is retried with batch 1 and smaller windows.
        """
        reference, card, roiBox = self._prepare(inputVolumeNode, outputVolumeNode, model, roiNode)
        self.ensureDependencies()
        from SuperResolution3DLib.core.config import InferenceSettings
        from SuperResolution3DLib.core.errors import GPUOutOfMemoryError, InsufficientMemoryError
        from SuperResolution3DLib.inference.api import super_resolve
        from SuperResolution3DLib.models.files import load_model

        started = time.time()
        loaded = load_model(reference)
        volume = self.volumeFromNode(inputVolumeNode)
        window, batch = int(window), int(batch)
        while True:
            settings = InferenceSettings(window=window, overlap=float(overlap), batch=batch, device=str(device),
                                         precision=str(precision))
            if roiBox is not None:
                settings.roi_start, settings.roi_size = roiBox
            try:
                result = super_resolve(volume, loaded, settings, progress=progress, cancel=cancel)
                break
            except (InsufficientMemoryError, RuntimeError) as error:
                smaller = self.smallerSettings(window, batch) if self.isGpuOutOfMemory(error) else None
                if smaller is None:
                    if self.isGpuOutOfMemory(error):
                        raise GPUOutOfMemoryError(
                            f"{error}; even window {window} with batch {batch} does not fit: run on the CPU "
                            "(device='cpu') or select a region of interest"
                        ) from None
                    raise
                logging.warning(f"SuperResolution3D: GPU out of memory, retrying with window {smaller[0]}, batch {smaller[1]}")
                window, batch = smaller
        ijkToRAS = ijkToRASFromLPSGeometry(result.spacing, result.origin, result.direction)
        outputVolumeNode = self.setOutputVolume(inputVolumeNode, outputVolumeNode, result.array, ijkToRAS,
                                                loaded.scale)
        logging.info(f"SuperResolution3D: {inputVolumeNode.GetName()} -> {outputVolumeNode.GetName()} "
                     f"in {time.time() - started:.1f} s")
        if showResult:
            self.showResult(inputVolumeNode, outputVolumeNode)
        return outputVolumeNode

    # Background path --------------------------------------------------------------------------------
    @staticmethod
    def _processEnvironment():
        if hasattr(slicer, "app") and hasattr(slicer.util, "startupEnvironment"):
            environment = dict(slicer.util.startupEnvironment())
        else:
            environment = dict(os.environ)
        root = libraryRootDir()
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH")) if p)
        environment["PYTHONUNBUFFERED"] = "1"
        return environment

    def startProcess(self, inputVolumeNode, outputVolumeNode=None, model="default", device="auto", roiNode=None,
                     progress=None, window=64, overlap=0.125, batch=1, precision="fp32", python=None):
        """Check the inputs, then start super-resolution in a separate Python process; returns the
        ``SuperResolutionProcess`` (poll it with ``poll()``, or ``wait()``; stop it with ``cancel()``).
        Dependencies must be installed (``ensureDependencies``) before."""
        reference, card, roiBox = self._prepare(inputVolumeNode, outputVolumeNode, model, roiNode)
        job = SuperResolutionProcess(
            self, inputVolumeNode, outputVolumeNode, reference, self.modelScale(card), roiBox,
            dict(device=str(device), window=int(window), overlap=float(overlap), batch=int(batch),
                 precision=str(precision)),
            python=python or pythonExecutable(), progress=progress,
        )
        job.start()
        return job


class SuperResolutionProcess:
    """One super-resolution run in a separate Python process, driven by polling (no Qt needed).

    ``start()`` writes the input node to a temporary .nrrd through a MRML storage node and launches
    ``python -m SuperResolution3DLib.cli predict IN OUT --progress lines ...``; a reader thread feeds the
    process output to a queue; ``poll()`` (called by a QTimer in the panel, or a loop in scripts) reports
    ``PROGRESS`` lines, and when the process ends reads the result back through a storage node into the
    output node. ``cancel()`` kills the process tree. The temporary folder is deleted in every case and the
    scene is only touched when a result is read back. A failed run's message is ``errorMessage`` and the class
    name of the library error (the CLI's ``ERROR <kind> <message>`` line) is ``errorKind``. A GPU out-of-memory
    failure (kind ``GPUOutOfMemoryError``) is retried with batch 1 and smaller windows before the run is reported
    as failed (``gpuOutOfMemory`` is then True).
    """

    RUNNING, COMPLETED, FAILED, CANCELLED = "running", "completed", "failed", "cancelled"
    LOG_LINES = 200

    def __init__(self, logic, inputVolumeNode, outputVolumeNode, modelReference, scale, roiBox, settings,
                 python=None, progress=None):
        self.logic = logic
        self.inputVolumeNode = inputVolumeNode
        self.outputVolumeNode = outputVolumeNode
        self.modelReference = modelReference
        self.scale = tuple(scale)
        self.roiBox = roiBox
        self.settings = dict(settings)
        self.python = python or pythonExecutable()
        self.progress = progress
        self.state = None
        self.errorMessage = ""
        self.errorKind = None
        self._errorLineMessage = None
        self.gpuOutOfMemory = False
        self.log = []
        self.tempDir = None
        self.process = None
        self._queue = None
        self._reader = None
        self.startTime = None
        self.elapsed = None

    # Files and command ------------------------------------------------------------------------------
    @property
    def inputPath(self):
        return os.path.join(self.tempDir, "input.nrrd")

    @property
    def outputPath(self):
        return os.path.join(self.tempDir, "output.nrrd")

    def command(self):
        s = self.settings
        command = [
            self.python, "-m", f"{LIBRARY_PACKAGE}.cli", "predict", self.inputPath, self.outputPath,
            "--model", str(self.modelReference), "--device", s["device"], "--window", str(s["window"]),
            "--overlap", str(s["overlap"]), "--batch", str(s["batch"]), "--precision", s["precision"],
            "--progress", "lines",
        ]
        if self.roiBox is not None:
            command += ["--roi", ",".join(str(v) for v in tuple(self.roiBox[0]) + tuple(self.roiBox[1]))]
        return command

    def _report(self, fraction, message):
        if self.progress is not None:
            self.progress(fraction, message)

    def start(self):
        self.startTime = time.time()
        parent = None
        if hasattr(slicer, "app") and getattr(slicer.app, "temporaryPath", None):
            parent = slicer.app.temporaryPath
        self.tempDir = tempfile.mkdtemp(prefix="SuperResolution3D-", dir=parent)
        try:
            self._report(0.0, "writing the input volume")
            storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
            storage.SetFileName(self.inputPath)
            storage.SetUseCompression(False)
            if not storage.WriteData(self.inputVolumeNode):
                raise RuntimeError(f"cannot write the input volume to {self.inputPath}")
            self._launch()
        except BaseException:
            self._cleanup()
            raise
        self.state = self.RUNNING

    def _launch(self):
        self.errorKind, self._errorLineMessage = None, None
        options = {}
        if os.name == "nt":
            options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            options["start_new_session"] = True  # its own process group: cancel kills launcher and Python
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace", bufsize=1, cwd=libraryRootDir(), env=self.logic._processEnvironment(),
            **options,
        )
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._readOutput, args=(self.process, self._queue), daemon=True)
        self._reader.start()

    @staticmethod
    def _readOutput(process, lines):
        for line in iter(process.stdout.readline, ""):
            lines.put(line.rstrip("\n"))
        process.stdout.close()
        lines.put(None)

    # Polling ----------------------------------------------------------------------------------------
    @property
    def finished(self):
        return self.state in (self.COMPLETED, self.FAILED, self.CANCELLED)

    def poll(self):
        """Handle the output so far; when the process has ended, finish the job. Returns ``self.state``."""
        if self.state != self.RUNNING:
            return self.state
        ended = False
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                ended = True
                break
            self._handleLine(line)
        if ended:
            self.process.wait()
            self._reader.join()
            self._finish(self.process.returncode)
        return self.state

    def _handleLine(self, line):
        if line.startswith("PROGRESS "):
            parts = line.split(" ", 2)
            try:
                fraction = float(parts[1])
            except (IndexError, ValueError):
                fraction = None
            if fraction is not None:
                self._report(0.02 + 0.93 * min(max(fraction, 0.0), 1.0), parts[2] if len(parts) > 2 else "")
                return
        if line.startswith("ERROR "):  # "ERROR <kind> <message>"; the same message follows as "...: error: <message>"
            parts = line.split(" ", 2)
            self.errorKind = parts[1] if len(parts) > 1 and parts[1] else None
            self._errorLineMessage = parts[2].strip() if len(parts) > 2 else None
            return
        self.log.append(line)
        del self.log[: -self.LOG_LINES]
        logging.info(f"SuperResolution3D process: {line}")

    def wait(self, timeout=None, interval=0.05):
        """Poll until the job ends (scripts and tests); on timeout the job is cancelled and TimeoutError raised."""
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() == self.RUNNING:
            if deadline is not None and time.time() > deadline:
                self.cancel()
                raise TimeoutError(f"super-resolution did not finish within {timeout} s; cancelled")
            time.sleep(interval)
        return self.state

    def _finish(self, returnCode):
        try:
            if returnCode == 0:
                self._report(0.96, "reading the result")
                self.outputVolumeNode = self._readResult()
                self.state = self.COMPLETED
                self._report(1.0, "done")
                return
            message = self._errorLineMessage or self._errorFromLog(returnCode)
            if self.logic.isGpuOutOfMemory(message, self.errorKind) and self.settings["device"] != "cpu":
                smaller = self.logic.smallerSettings(self.settings["window"], self.settings["batch"])
                if smaller is not None:
                    self.settings["window"], self.settings["batch"] = smaller
                    self.log.append(f"GPU out of memory: retrying with window {smaller[0]}, batch {smaller[1]}")
                    self._launch()
                    return
                self.gpuOutOfMemory = True
            self.errorMessage = message
            self.state = self.FAILED
        except Exception as error:  # reading the result failed: report it, the scene is unchanged
            self.errorMessage = str(error)
            self.state = self.FAILED
        finally:
            if self.state != self.RUNNING:
                self.elapsed = time.time() - self.startTime
                self._cleanup()

    def _errorFromLog(self, returnCode):
        for line in reversed(self.log):
            if "error:" in line:
                return line.split("error:", 1)[1].strip()
        for line in reversed(self.log):
            if line.strip() and not line.startswith(" "):
                return f"the super-resolution process failed (exit code {returnCode}): {line.strip()}"
        return f"the super-resolution process failed (exit code {returnCode}) without a message"

    def _readResult(self):
        if not os.path.isfile(self.outputPath):
            raise RuntimeError(f"the super-resolution process wrote no output ({self.outputPath})")
        result = slicer.vtkMRMLScalarVolumeNode()
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(self.outputPath)
        storage.SetSingleFile(True)
        if not storage.ReadData(result) or result.GetImageData() is None:
            raise RuntimeError(f"cannot read the super-resolved volume {self.outputPath}")
        return self.logic.setOutputVolume(
            self.inputVolumeNode, self.outputVolumeNode, result.GetImageData(), ijkToRASOf(result), self.scale
        )

    # Cancel and clean up ----------------------------------------------------------------------------
    def cancel(self):
        """Kill the process (and its children); the scene is left as it was."""
        if self.state != self.RUNNING:
            return
        self._kill()
        self.state = self.CANCELLED
        self.elapsed = time.time() - self.startTime
        self._cleanup()

    def _kill(self):
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if os.name == "nt":
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True)
            else:
                import signal

                os.killpg(process.pid, signal.SIGKILL)
        except (OSError, subprocess.SubprocessError):
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _cleanup(self):
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.tempDir:
            shutil.rmtree(self.tempDir, ignore_errors=True)


# Widget ---------------------------------------------------------------------------------------------
class SuperResolution3DWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: reads the GUI into the parameter node and hands the work to the logic."""

    POLL_INTERVAL_MS = 200
    MODEL_FILE_ITEM = "__file__"

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._updatingGUI = False
        self._job = None
        self._detection = None
        self._deviceInfo = None
        self._pollTimer = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SuperResolution3D.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SuperResolution3DLogic()

        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self._pollTimer.connect("timeout()", self.onPollTimer)

        self.ui.deviceSelector.clear()
        for label, value in ((_("auto (CUDA if available)"), "auto"), ("CUDA", "cuda"), ("CPU", "cpu")):
            self.ui.deviceSelector.addItem(label, value)
        self.ui.precisionSelector.clear()
        for value in ("fp32", "bf16", "fp16"):
            self.ui.precisionSelector.addItem(value, value)
        self.populateModels()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        for selector in (self.ui.inputSelector, self.ui.outputSelector, self.ui.roiSelector):
            selector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateParameterNodeFromGUI)
        self.ui.modelSelector.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.modelFileButton.connect("clicked(bool)", self.onBrowseModelFile)
        self.ui.roiCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.deviceSelector.connect("currentIndexChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.precisionSelector.connect("currentIndexChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.windowSpinBox.connect("valueChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.batchSpinBox.connect("valueChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.overlapSpinBox.connect("valueChanged(double)", self.updateParameterNodeFromGUI)
        self.ui.showResultCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

        self.ui.progressBar.setVisible(False)
        self.initializeParameterNode()
        self.startDeviceDetection()

    def cleanup(self):
        if self._job is not None:
            self._job.cancel()
        if self._pollTimer is not None:
            self._pollTimer.stop()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        if self._job is not None:
            self._job.cancel()
            self.onJobFinished()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    # Parameter node ---------------------------------------------------------------------------------
    def initializeParameterNode(self):
        parameterNode = self.logic.getParameterNode()
        self.logic.setDefaultParameters(parameterNode)
        if not parameterNode.GetNodeReference("InputVolume"):
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first is not None and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                parameterNode.SetNodeReferenceID("InputVolume", first.GetID())
        self.setParameterNode(parameterNode)

    def setParameterNode(self, parameterNode):
        if self._parameterNode is not None:
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = parameterNode
        if self._parameterNode is not None:
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None):
        node = self._parameterNode
        if node is None or self._updatingGUI:
            return
        self._updatingGUI = True
        try:
            self.ui.inputSelector.setCurrentNode(node.GetNodeReference("InputVolume"))
            self.ui.outputSelector.setCurrentNode(node.GetNodeReference("OutputVolume"))
            self.ui.roiSelector.setCurrentNode(node.GetNodeReference("ROI"))
            self.ui.roiCheckBox.checked = node.GetParameter("UseROI") == "true"
            self.ui.roiSelector.enabled = self.ui.roiCheckBox.checked
            self.selectModel(node.GetParameter("Model"))
            self._selectData(self.ui.deviceSelector, node.GetParameter("Device"))
            self._selectData(self.ui.precisionSelector, node.GetParameter("Precision"))
            self.ui.windowSpinBox.value = int(node.GetParameter("Window") or 64)
            self.ui.batchSpinBox.value = int(node.GetParameter("Batch") or 1)
            self.ui.overlapSpinBox.value = float(node.GetParameter("Overlap") or 0.125)
            self.ui.showResultCheckBox.checked = node.GetParameter("ShowResult") != "false"
        finally:
            self._updatingGUI = False
        self.updateApplyButton()

    def updateParameterNodeFromGUI(self, *unused):
        node = self._parameterNode
        if node is None or self._updatingGUI:
            return
        wasModifying = node.StartModify()
        try:
            node.SetNodeReferenceID("InputVolume", self.ui.inputSelector.currentNodeID)
            node.SetNodeReferenceID("OutputVolume", self.ui.outputSelector.currentNodeID)
            node.SetNodeReferenceID("ROI", self.ui.roiSelector.currentNodeID)
            node.SetParameter("UseROI", "true" if self.ui.roiCheckBox.checked else "false")
            model = self.ui.modelSelector.currentData
            if model:
                node.SetParameter("Model", model)
            node.SetParameter("Device", self.ui.deviceSelector.currentData or "auto")
            node.SetParameter("Precision", self.ui.precisionSelector.currentData or "fp32")
            node.SetParameter("Window", str(self.ui.windowSpinBox.value))
            node.SetParameter("Batch", str(self.ui.batchSpinBox.value))
            node.SetParameter("Overlap", str(self.ui.overlapSpinBox.value))
            node.SetParameter("ShowResult", "true" if self.ui.showResultCheckBox.checked else "false")
        finally:
            node.EndModify(wasModifying)

    @staticmethod
    def _selectData(comboBox, value):
        index = comboBox.findData(value)
        if index >= 0:
            comboBox.setCurrentIndex(index)

    def updateApplyButton(self):
        if self._job is not None:
            self.ui.applyButton.text = _("Cancel")
            self.ui.applyButton.toolTip = _("Stop the running super-resolution (the scene is left as it was)")
            self.ui.applyButton.enabled = True
            return
        self.ui.applyButton.text = _("Apply")
        inputNode = self.ui.inputSelector.currentNode()
        needsROI = self.ui.roiCheckBox.checked and self.ui.roiSelector.currentNode() is None
        self.ui.applyButton.enabled = inputNode is not None and not needsROI
        self.ui.applyButton.toolTip = (
            _("Select an input volume") if inputNode is None else
            _("Select a region of interest, or untick it") if needsROI else
            _("Super-resolve the input volume")
        )

    # Models -----------------------------------------------------------------------------------------
    def populateModels(self):
        self.ui.modelSelector.clear()
        defaultName = modelCards().DEFAULT_MODEL_NAME
        for name in listBundledModels():
            label = name + (_(" (default)") if name == defaultName else "")
            self.ui.modelSelector.addItem(label, name)
        for name in INTERPOLATION_MODELS:
            self.ui.modelSelector.addItem(f"{name} " + _("(interpolation baseline)"), name)

    def selectModel(self, model):
        if model == "default":
            defaultName = modelCards().DEFAULT_MODEL_NAME
            model = defaultName if defaultName in listBundledModels() else INTERPOLATION_MODELS[0]
        index = self.ui.modelSelector.findData(model)
        if index < 0 and model:
            self.ui.modelSelector.addItem(os.path.basename(model), model)
            index = self.ui.modelSelector.findData(model)
        if index >= 0:
            self.ui.modelSelector.setCurrentIndex(index)
        self.showModelCard()

    def onModelChanged(self, index):
        self.showModelCard()
        self.updateParameterNodeFromGUI()

    def showModelCard(self):
        model = self.ui.modelSelector.currentData
        if not model:
            self.ui.modelCardText.plainText = _("No model selected")
            return
        try:
            _reference, card = self.logic.resolveModel(model)
            self.ui.modelCardText.plainText = self.logic.modelCardText(card)
        except Exception as error:
            self.ui.modelCardText.plainText = str(error)

    def onBrowseModelFile(self):
        path = qt.QFileDialog.getOpenFileName(
            self.parent, _("Select a SuperResolution3D model"), "", _("Model card (*.json)")
        )
        if path:
            self.selectModel(path)
            self.updateParameterNodeFromGUI()

    # Devices ----------------------------------------------------------------------------------------
    def startDeviceDetection(self):
        if self.logic.missingDependencies() and "torch" in " ".join(self.logic.missingDependencies()):
            self.ui.deviceInfoLabel.text = self.logic.deviceText(None)
            return
        self.ui.deviceInfoLabel.text = _("Detecting devices...")
        try:
            self._detection = self.logic.startDeviceDetection()
        except OSError as error:
            self.ui.deviceInfoLabel.text = str(error)
            return
        qt.QTimer.singleShot(500, self.checkDeviceDetection)

    def checkDeviceDetection(self):
        if self._detection is None:
            return
        if self._detection.poll() is None:
            qt.QTimer.singleShot(500, self.checkDeviceDetection)
            return
        output = self._detection.stdout.read()
        self._detection = None
        self._deviceInfo = self.logic.parseDeviceDetection(output)
        self.ui.deviceInfoLabel.text = self.logic.deviceText(self._deviceInfo)

    # Apply / Cancel ---------------------------------------------------------------------------------
    def onApplyButton(self):
        if self._job is not None:
            self._job.cancel()
            self.ui.statusLabel.text = _("Cancelled; the scene is unchanged.")
            self.onJobFinished()
            return
        self.updateParameterNodeFromGUI()
        try:
            missing = self.logic.missingDependencies()
            if missing:
                if not slicer.util.confirmOkCancelDisplay(self.logic.dependencyConfirmationText(missing)):
                    self.ui.statusLabel.text = _("Python packages not installed: nothing was done.")
                    return
                with slicer.util.tryWithErrorDisplay(_("Installing the Python packages failed."), waitCursor=True):
                    self.logic.installDependencies(missing)
                if self.logic.missingDependencies():
                    return
                self.startDeviceDetection()
        except Exception as error:
            slicer.util.errorDisplay(_("Checking the Python packages failed: ") + str(error))
            return
        self.startJob(self.ui.deviceSelector.currentData or "auto")

    def startJob(self, device):
        node = self._parameterNode
        roiNode = self.ui.roiSelector.currentNode() if self.ui.roiCheckBox.checked else None
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Writing the input...")
        try:
            self._job = self.logic.startProcess(
                self.ui.inputSelector.currentNode(), self.ui.outputSelector.currentNode(),
                model=self.ui.modelSelector.currentData or node.GetParameter("Model"), device=device,
                roiNode=roiNode, progress=self.onProgress,
                window=self.ui.windowSpinBox.value, overlap=self.ui.overlapSpinBox.value,
                batch=self.ui.batchSpinBox.value, precision=self.ui.precisionSelector.currentData or "fp32",
            )
        except Exception as error:  # bad input, missing model...: nothing was started or added
            self.ui.statusLabel.text = str(error)
            slicer.util.errorDisplay(_("Super-resolution could not start: ") + str(error))
            return
        self.ui.progressBar.setVisible(True)
        self.setInputsEnabled(False)
        self.updateApplyButton()
        self._pollTimer.start()

    def onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        if message:
            self.ui.statusLabel.text = message

    def onPollTimer(self):
        job = self._job
        if job is None:
            self._pollTimer.stop()
            return
        state = job.poll()
        if state == job.RUNNING:
            return
        self.onJobFinished()
        if state == job.COMPLETED:
            self.ui.statusLabel.text = _("Done in {seconds:.1f} s: {name}").format(
                seconds=job.elapsed, name=job.outputVolumeNode.GetName())
            if self.ui.showResultCheckBox.checked:
                self.logic.showResult(job.inputVolumeNode, job.outputVolumeNode)
        elif state == job.FAILED:
            self.ui.statusLabel.text = _("Failed: ") + job.errorMessage
            if job.gpuOutOfMemory and slicer.util.confirmYesNoDisplay(
                _("The GPU ran out of memory even with batch 1 and the smallest window.\n\n"
                  "Run on the CPU instead? (slower, uses main memory)")
            ):
                self.startJob("cpu")
                return
            slicer.util.errorDisplay(_("Super-resolution failed: ") + job.errorMessage,
                                     detailedText="\n".join(job.log[-50:]))

    def onJobFinished(self):
        self._pollTimer.stop()
        self._job = None
        self.ui.progressBar.setVisible(False)
        self.setInputsEnabled(True)
        self.updateApplyButton()

    def setInputsEnabled(self, enabled):
        for name in ("inputsCollapsibleButton", "modelCollapsibleButton", "advancedCollapsibleButton"):
            getattr(self.ui, name).enabled = enabled


# Self-test ------------------------------------------------------------------------------------------
class SuperResolution3DTest(ScriptedLoadableModuleTest):
    """Runs on a small synthetic oblique volume with the trilinear baseline: no downloads, CPU, seconds."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SuperResolution3D_geometry()
        self.setUp()
        self.test_SuperResolution3D_background_process()

    @staticmethod
    def makeObliqueVolume(name="SyntheticInput"):
        """A 10x9x8 volume (i, j, k) with oblique directions, anisotropic spacing, a bright voxel at (6, 4, 3)."""
        array = np.random.default_rng(0).uniform(0, 10, size=(8, 9, 10)).astype(np.float32)
        array[3, 4, 6] = 1000.0
        angle = np.deg2rad(30)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        ijkToRAS = np.eye(4)
        ijkToRAS[:3, :3] = rotation @ np.diag([1.5, 0.8, 3.0])
        ijkToRAS[:3, 3] = (12.0, -30.0, 7.5)
        return slicer.util.addVolumeFromArray(array, ijkToRAS, name=name), (6, 4, 3)

    def checkLandmark(self, inputNode, outputNode, landmarkIJK):
        inputRAS = ijkToRASOf(inputNode) @ np.array(list(landmarkIJK) + [1.0])
        output = slicer.util.arrayFromVolume(outputNode)
        k, j, i = np.unravel_index(int(np.argmax(output)), output.shape)
        outputRAS = ijkToRASOf(outputNode) @ np.array([i, j, k, 1.0])
        self.assertLess(float(np.linalg.norm(outputRAS[:3] - inputRAS[:3])), 1e-3)

    def test_SuperResolution3D_geometry(self):
        self.delayDisplay("Synchronous super-resolution of a synthetic oblique volume")
        inputNode, landmark = self.makeObliqueVolume()
        logic = SuperResolution3DLogic()
        outputNode = logic.process(inputNode, model="trilinear", device="cpu")
        self.assertEqual(slicer.util.arrayFromVolume(outputNode).shape, (32, 36, 40))
        np.testing.assert_allclose(np.array(outputNode.GetSpacing()) * 4, inputNode.GetSpacing(), rtol=1e-6)
        self.checkLandmark(inputNode, outputNode, landmark)
        self.delayDisplay("Test passed")

    def test_SuperResolution3D_background_process(self):
        self.delayDisplay("Super-resolution in a background process")
        inputNode, landmark = self.makeObliqueVolume()
        logic = SuperResolution3DLogic()
        job = logic.startProcess(inputNode, model="trilinear", device="cpu")
        self.assertEqual(job.wait(timeout=300), job.COMPLETED, job.errorMessage)
        self.assertEqual(slicer.util.arrayFromVolume(job.outputVolumeNode).shape, (32, 36, 40))
        self.checkLandmark(inputNode, job.outputVolumeNode, landmark)
        self.assertFalse(os.path.exists(job.tempDir))
        self.delayDisplay("Test passed")
