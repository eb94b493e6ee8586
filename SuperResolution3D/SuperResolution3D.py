"""SuperResolution3D: 4x 3D super-resolution of CT and MRI volumes in 3D Slicer (3D RRDB network).

The module is a thin Qt panel (``SuperResolution3DWidget``) over ``SuperResolution3DLogic``, which does all
the work and is what scripts use::

    logic = slicer.util.getModuleLogic("SuperResolution3D")
    outputNode = logic.process(slicer.util.getNode("MRHead"), model="default", device="auto")

Every run goes one way: the Logic checks the inputs (no torch), then the library's command line runs in a
separate Python process (``SuperResolution3DHelpers.process``), so that Slicer stays responsive, a run can be
cancelled by killing that process, and there is one retry policy for GPU out-of-memory errors. The helper
package beside this file holds the process, the Python dependencies and the RAS/LPS geometry.
"""

import json
import logging
import os
import subprocess

import numpy as np

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest

from SuperResolution3DHelpers import dependencies
from SuperResolution3DHelpers.acquisition import recordedSlices, recordedSliceProfile, sliceNotes
from SuperResolution3DHelpers.finetuning import startFineTuneProcess
from SuperResolution3DHelpers.fusion import startFusionProcess
from SuperResolution3DHelpers.geometry import ijkToRASOf, lpsGeometryFromNode, roiVoxelBox, vtkMatrixFromArray
from SuperResolution3DHelpers.locations import ensureLibraryImportable, processEnvironment, pythonExecutable
from SuperResolution3DHelpers.panel import SuperResolutionPanel
from SuperResolution3DHelpers.process import SuperResolutionProcess, jobError, sliceOptions
from SuperResolution3DHelpers.texts import acknowledgementText, helpText

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer < 5.4
    def _(text):
        return text


ensureLibraryImportable()


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


def interpolationModes():
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES

    return INTERPOLATION_MODES


def inferenceDefaults():
    """The library's inference settings defaults (one home: ``core.config.InferenceSettings``; no torch)."""
    from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings

    defaults = InferenceSettings()
    # window 0 is auto (the panel's spin box shows "auto"; the process passes --window auto)
    window = 0 if defaults.window == "auto" else defaults.window if isinstance(defaults.window, int) else max(defaults.window)
    return {"window": int(window), "overlap": float(defaults.overlap), "batch": int(defaults.batch),
            "precision": str(defaults.precision), "device": str(defaults.device),
            "adapt_minutes": float(AdaptationSettings().minutes), "adapt_slice_profile": AdaptationSettings().slice_profile,
            "mirror_ensemble": bool(defaults.mirror_ensemble)}


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
        self.parent.helpText = helpText()
        self.parent.acknowledgementText = acknowledgementText()


# Logic ----------------------------------------------------------------------------------------------
class SuperResolution3DLogic(ScriptedLoadableModuleLogic):
    """Everything the module does, usable from the Python console without the panel. ``startProcess`` starts a run in
    a separate Python process and returns the ``SuperResolutionProcess`` to poll; ``process`` waits for it and returns
    the output node."""

    @staticmethod
    def defaultParameters():
        """Parameter node defaults (saved with the scene); the numbers come from the library's settings."""
        defaults = inferenceDefaults()
        return {
            "Model": "default", "Device": defaults["device"], "Window": str(defaults["window"]),
            "Overlap": str(defaults["overlap"]), "Batch": str(defaults["batch"]), "Precision": defaults["precision"],
            "UseROI": "false", "ShowResult": "true", "Adapt": "false", "AdaptMinutes": str(defaults["adapt_minutes"]),
            "MirrorEnsemble": "true" if defaults["mirror_ensemble"] else "false", "OutputSliceSpacing": "0.0",
            "AdaptSliceProfile": defaults["adapt_slice_profile"], "AdaptSliceThickness": "0.0", "AdaptSaveModel": "",
            "RegisterStacks": "false", "FusionFieldOfView": "first",
        }

    # Parameter node ---------------------------------------------------------------------------------
    def setDefaultParameters(self, parameterNode):
        """Fill the parameters that are not set yet (they are saved with the scene)."""
        for name, value in self.defaultParameters().items():
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
        if model in interpolationModes():
            return model, cards.interpolation_card(model)
        cardPath, card, _weightsPath = cards.find_model_files(model)
        return os.path.abspath(str(cardPath)), card

    @staticmethod
    def precisionChoices():
        from SuperResolution3DLib.core.precision import PRECISION_CHOICES

        return PRECISION_CHOICES

    @staticmethod
    def adaptationProfiles():
        from SuperResolution3DLib.core.vocabulary import ADAPTATION_PROFILES

        return ADAPTATION_PROFILES

    @staticmethod
    def defaultModelName():
        return modelCards().DEFAULT_MODEL_NAME

    @staticmethod
    def bundledModels():
        return listBundledModels()

    @staticmethod
    def interpolationModels():
        """The interpolation baselines, best first (the panel lists them in this order)."""
        return sorted(interpolationModes(), key=("bspline", "trilinear", "nearest").index)

    @staticmethod
    def modelScale(card):
        """``(x, y, z)`` upscaling of a model card (its ``scale``, else its network's)."""
        return modelCards().card_scale(card)

    @staticmethod
    def modelCardText(card):
        """A short plain-text summary of a model card: scale, training data, metrics."""
        return modelCards().model_card_summary(card)

    # Dependencies (SuperResolution3DHelpers.dependencies) --------------------------------------------
    @staticmethod
    def requirements():
        """The library's runtime requirements: torch first, then ``requirements.txt`` (shipped with the module)."""
        return dependencies.requirements()

    def missingDependencies(self):
        """Requirements that are not installed (or too old); empty when everything is there."""
        return dependencies.missing(self.requirements())

    @staticmethod
    def dependencyConfirmationText(missing):
        return dependencies.confirmationText(missing, _)

    def installDependencies(self, requirements):
        """Install ``requirements`` (no question asked here: callers confirm first)."""
        dependencies.install(requirements)

    def ensureDependencies(self, askConfirmation=True):
        """Install the missing packages after the user confirms a dialog that lists them; never silently.

        Returns True when everything is installed; raises ``RuntimeError`` when the user declines and
        ``MissingDependencyError`` when no dialog may be shown (no Slicer application, Slicer running its
        tests, or ``askConfirmation`` False).
        """
        missing = self.missingDependencies()
        if not missing:
            return True
        if not askConfirmation or not dependencies.canAskUser():
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
        return subprocess.Popen([pythonExecutable(), "-c", self.DEVICE_SCRIPT], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", env=processEnvironment())

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
    @staticmethod
    def thickSlices(volumeNode):
        """The input's thick-slice axis (``ThickSlices``, with the plane of its slices) from its spacing, or None for
        a near-isotropic volume."""
        from SuperResolution3DLib.core.anisotropy import find_thick_slices

        if volumeNode is None:
            return None
        spacing, _origin, direction = lpsGeometryFromNode(volumeNode)
        return find_thick_slices(spacing, direction)

    def chooseModel(self, model, inputVolumeNode):
        """The model Apply uses: ``sr3d predict``'s rule (``thick_slices.model_for_input``: an MR 3D acquisition from
        DICOM goes to the k-space model); the default model's name (the panel's "(default)") counts as ``default``."""
        from SuperResolution3DLib.inference.thick_slices import model_for_input

        model = str(model or "default")
        requested = "default" if model == self.defaultModelName() else model
        spacing = inputVolumeNode.GetSpacing() if inputVolumeNode is not None else None
        chosen, _thick = model_for_input(requested, spacing, recordedSliceProfile(inputVolumeNode))
        return model if chosen == requested else chosen

    def resolveModelFor(self, model, volumeNode):
        """``resolveModel`` of the model Apply uses (an interpolation along a thick axis only, as ``sr3d predict``)."""
        chosen = self.chooseModel(model, volumeNode)
        if chosen not in interpolationModes():
            return self.resolveModel(chosen)
        from SuperResolution3DLib.inference.thick_slices import interpolation_scale_for_input

        scale = interpolation_scale_for_input(self.thickSlices(volumeNode))
        return chosen, modelCards().interpolation_card(chosen, scale)

    def throughPlane(self, volumeNode, model="default", learned=False):
        """Whether Apply works along a thick-slice input's thick axis only (``learned``: not by interpolation)."""
        card = self.resolveModelFor(model, volumeNode)[1] if self.thickSlices(volumeNode) else None
        return (card is not None and tuple(self.modelScale(card)[:2]) == (1, 1)
                and not (learned and card["network"].get("name") == "interpolation"))

    def canAdapt(self, volumeNode, model="default"):
        """Whether Apply can adapt the model to this input: a thick-slice input and a learned through-plane model."""
        return self.throughPlane(volumeNode, model, learned=True)

    def inputDescription(self, volumeNode, model="default", adapt=False, adaptMinutes=None, outputSliceSpacing=None,
                         adaptSliceProfile=None):
        """What Apply will do with this input, in one line (empty for an isotropic input)."""
        thick = self.thickSlices(volumeNode)
        if thick is None:
            return ""
        reference, card = self.resolveModelFor(model, volumeNode)
        scale = self.modelScale(card)
        if tuple(scale[:2]) == (1, 1):
            name = card.get("name") or os.path.splitext(os.path.basename(str(reference)))[0]
            text = thick.describe(int(scale[2]), outputSliceSpacing) + f" (model {name})"
            if adapt:
                minutes = adaptMinutes if adaptMinutes is not None else inferenceDefaults()["adapt_minutes"]
                pairs = f" on {adaptSliceProfile} slices" if adaptSliceProfile not in (None, "auto") else ""
                text = f"adapt the model to this scan{pairs} for {minutes:g} min, then " + text
            elif card["network"].get("name") != "interpolation":  # what the slices' record means for the output
                text += sliceNotes(recordedSlices(volumeNode), thick, card)
            return text
        return (f"{thick.summary()}: the {scaleText(scale)} model enlarges every axis (choose the default model for a "
                "through-plane result)")

    def _prepare(self, inputVolumeNode, outputVolumeNode, model, roiNode, adapt=False, outputSliceSpacing=None):
        """All checks, before anything is created: returns ``(modelReference, card, roiBox or None)``."""
        self.checkInputVolume(inputVolumeNode)
        self.checkOutputVolume(inputVolumeNode, outputVolumeNode)
        if outputSliceSpacing is not None:  # canAdapt: a thick-slice input and a through-plane model
            from SuperResolution3DLib.inference.thick_slices import check_output_slice_spacing

            check_output_slice_spacing(outputSliceSpacing, self.thickSlices(inputVolumeNode),
                                       self.throughPlane(inputVolumeNode, model))
        if adapt and not self.canAdapt(inputVolumeNode, model):
            from SuperResolution3DLib.core.anisotropy import THICK_SLICE_RULE
            from SuperResolution3DLib.core.errors import InputVolumeError

            raise InputVolumeError(f"adapting to the scan needs a thick-slice input ({THICK_SLICE_RULE}) and a learned "
                                   "through-plane model (the default): untick 'Adapt to this scan'")
        reference, card = self.resolveModelFor(model, inputVolumeNode)
        roiBox = roiVoxelBox(roiNode, inputVolumeNode) if roiNode is not None else None
        return reference, card, roiBox

    def process(self, inputVolumeNode, outputVolumeNode=None, model="default", device="auto", roiNode=None,
                progress=None, window=None, overlap=None, batch=None, precision=None, cancel=None, showResult=False,
                timeout=None, adapt=False, adaptMinutes=None, mirrorEnsemble=None, outputSliceSpacing=None,
                adaptSliceProfile=None, adaptSliceThickness=None, saveAdaptedModel=None):
        """Super-resolve ``inputVolumeNode`` and return the output volume node (waits for the run).

        model: a bundled model name, ``"default"``, ``"trilinear"``/``"bspline"``/``"nearest"``, or a model ``.json``.
        device: ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"cpu"``. roiNode: a Markups ROI node; only the input
        voxels inside it are super-resolved. progress: ``callback(fraction, message)``. cancel: a callable
        returning True (or a ``threading.Event``) to stop. window / overlap / batch / precision: ``None`` takes the
        library's defaults. The output node is created (named after the input and the scale) when
        ``outputVolumeNode`` is None; nothing is added to the scene when an error is raised: the library's own
        error class (``InputVolumeError``, ``ModelFileError``, ``GPUOutOfMemoryError``, ...) with its message,
        ``CancelledError`` when cancelled. It runs the same background process as the panel (``startProcess``),
        with its GPU out-of-memory retries. adapt: a thick-slice input's through-plane model is first fine-tuned
        on the scan itself for ``adaptMinutes`` (``sr3d predict --adapt``), its training pairs made with
        ``adaptSliceProfile`` (``"auto"``, ``"mixed"``, ``"estimate"``, ``"rect"``, ``"trapezoid"``, ``"gaussian"``,
        ``"sinc"``; ``None``: the library's default, ``"auto"``) ``adaptSliceThickness`` slice spacings thick
        (``None``: recorded, estimated, drawn or 1; ``--slice-profile``, ``--slice-thickness``); saveAdaptedModel: a
        model card path (.json) to save the adapted model to, for other scans (``--save-adapted``). mirrorEnsemble:
        average the network over the 8 mirror images of the input (8x the time; ``None``: the library's default, off).
        outputSliceSpacing: a thick-slice input's output spacing along its thick axis in mm (``sr3d predict
        --output-slice-spacing``; ``None``: the finer in-plane spacing).
        """
        self.ensureDependencies()
        job = self.startProcess(inputVolumeNode, outputVolumeNode, model, device, roiNode, progress, window, overlap,
                                batch, precision, adapt=adapt, adaptMinutes=adaptMinutes, mirrorEnsemble=mirrorEnsemble,
                                outputSliceSpacing=outputSliceSpacing, adaptSliceProfile=adaptSliceProfile,
                                adaptSliceThickness=adaptSliceThickness, saveAdaptedModel=saveAdaptedModel)
        job.wait(timeout=timeout, cancel=cancel)
        if job.state != job.COMPLETED:
            raise self.jobError(job)
        logging.info(f"SuperResolution3D: {inputVolumeNode.GetName()} -> {job.outputVolumeNode.GetName()} "
                     f"in {job.elapsed:.1f} s")
        if showResult:
            self.showResult(inputVolumeNode, job.outputVolumeNode)
        return job.outputVolumeNode

    jobError = staticmethod(jobError)  # the library error a failed or cancelled job stands for

    def startFusion(self, stackNodes, model="default", device="auto", progress=None, python=None, **options):
        """``sr3d fuse`` of stack nodes of one session in a background process; options: register, warmWorker."""
        return startFusionProcess(self, stackNodes, model, device, progress, python or pythonExecutable(), **options)

    def startFineTune(self, trainNodes, savePath, model="default", validationNodes=(), minutes=30.0, device="auto",
                      progress=None, python=None, **options):
        """``sr3d finetune`` of high-resolution volume nodes in a background process, writing the model file
        ``savePath`` (``job.modelPath`` once completed); options: steps."""
        return startFineTuneProcess(self, trainNodes, savePath, model, validationNodes, minutes, device, progress,
                                    python or pythonExecutable(), **options)

    def startProcess(self, inputVolumeNode, outputVolumeNode=None, model="default", device="auto", roiNode=None,
                     progress=None, window=None, overlap=None, batch=None, precision=None, python=None, adapt=False,
                     adaptMinutes=None, warmWorker=True, mirrorEnsemble=None, outputSliceSpacing=None,
                     adaptSliceProfile=None, adaptSliceThickness=None, saveAdaptedModel=None):
        """Check the inputs, then start super-resolution in a separate Python process; returns the
        ``SuperResolutionProcess`` (poll it with ``poll()``, or ``wait()``; stop it with ``cancel()``).
        ``warmWorker``: run in the session's warm worker process (torch imported once; see
        ``SuperResolution3DHelpers.process``) rather than a fresh process.
        Dependencies must be installed (``ensureDependencies``) before."""
        reference, card, roiBox = self._prepare(inputVolumeNode, outputVolumeNode, model, roiNode, adapt,
                                                outputSliceSpacing)
        defaults = inferenceDefaults()
        settings = dict(
            device=str(device or defaults["device"]),
            window=int(window if window is not None else defaults["window"]),
            overlap=float(overlap if overlap is not None else defaults["overlap"]),
            batch=int(batch if batch is not None else defaults["batch"]),
            precision=str(precision or defaults["precision"]),
            mirror_ensemble=bool(defaults["mirror_ensemble"] if mirrorEnsemble is None else mirrorEnsemble),
        )
        settings.update(sliceOptions(adapt, adaptMinutes if adaptMinutes is not None else defaults["adapt_minutes"],
                                     adaptSliceProfile, adaptSliceThickness, recordedSlices(inputVolumeNode),
                                     inputVolumeNode.GetSpacing(), saveAdaptedModel))
        if outputSliceSpacing is not None:
            settings["output_slice_spacing"] = float(outputSliceSpacing)
        scale = self.modelScale(card)

        def writeResult(imageData, ijkToRAS):
            return self.setOutputVolume(inputVolumeNode, outputVolumeNode, imageData, ijkToRAS, scale)

        job = SuperResolutionProcess(inputVolumeNode, reference, roiBox, settings, writeResult,
                                     python=python or pythonExecutable(), progress=progress, useWorker=warmWorker)
        job.start()
        return job


# Widget ---------------------------------------------------------------------------------------------
class SuperResolution3DWidget(SuperResolutionPanel):
    """The panel (``SuperResolution3DHelpers.panel``) driving this module's Logic."""

    logicClass = SuperResolution3DLogic


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
        ijkToRAS[:3, :3] = rotation @ np.diag([1.5, 0.8, 1.2])
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
