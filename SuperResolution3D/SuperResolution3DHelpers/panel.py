"""The module's panel (Qt): parameter node <-> GUI, model list, device detection, Apply/Cancel with progress.

It holds no processing: every action is a call on the Logic (``logicClass``). No library import.
"""

import os

import qt
import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer < 5.4
    def _(text):
        return text


class SuperResolutionPanel(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: reads the GUI into the parameter node and hands the work to the logic.

    The module file subclasses it as ``SuperResolution3DWidget`` and names its Logic class in ``logicClass``.
    """

    logicClass = None

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
        self._lastStart = None  # startJob or startFusion: what an installation or a retry on the CPU goes on with

    ADAPTATION_PROFILE_LABELS = {"auto": _("auto (as recorded, else estimated)"),
                                 "mixed": _("mixed (those the model trained on)"),
                                 "estimate": _("estimated from the scan"), "sinc": _("sinc (k-space: a 3D acquisition)")}

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SuperResolution3D.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = self.logicClass()

        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self._pollTimer.connect("timeout()", self.onPollTimer)

        self.ui.deviceSelector.clear()
        for label, value in ((_("auto (CUDA if available)"), "auto"), ("CUDA", "cuda"), ("CPU", "cpu")):
            self.ui.deviceSelector.addItem(label, value)
        self.ui.precisionSelector.clear()
        for value in self.logic.precisionChoices():
            self.ui.precisionSelector.addItem(value, value)
        self.ui.adaptProfileSelector.clear()
        for value in self.logic.adaptationProfiles():
            self.ui.adaptProfileSelector.addItem(self.ADAPTATION_PROFILE_LABELS.get(value, value), value)
        self.populateModels()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        for selector in (self.ui.inputSelector, self.ui.outputSelector, self.ui.roiSelector):
            selector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateParameterNodeFromGUI)
        self.ui.stacksSelector.connect("checkedNodesChanged()", self.updateParameterNodeFromGUI)
        self.ui.registerStacksCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.unionFieldOfViewCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.fuseButton.connect("clicked(bool)", self.onFuseButton)
        for selector in (self.ui.finetuneScansSelector, self.ui.finetuneValidationSelector):
            selector.connect("checkedNodesChanged()", self.updateFinetuneButton)
        self.ui.finetuneSavePathLineEdit.connect("textChanged(QString)", self.updateFinetuneButton)
        self.ui.finetuneSaveBrowseButton.connect("clicked(bool)", self.onBrowseFinetunedModelFile)
        self.ui.finetuneButton.connect("clicked(bool)", self.onFinetuneButton)
        self.ui.modelSelector.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.modelFileButton.connect("clicked(bool)", self.onBrowseModelFile)
        self.ui.roiCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.deviceSelector.connect("currentIndexChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.precisionSelector.connect("currentIndexChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.windowSpinBox.connect("valueChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.batchSpinBox.connect("valueChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.overlapSpinBox.connect("valueChanged(double)", self.updateParameterNodeFromGUI)
        self.ui.showResultCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.mirrorEnsembleCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.adaptCheckBox.connect("toggled(bool)", self.updateParameterNodeFromGUI)
        self.ui.adaptMinutesSpinBox.connect("valueChanged(double)", self.updateParameterNodeFromGUI)
        self.ui.adaptProfileSelector.connect("currentIndexChanged(int)", self.updateParameterNodeFromGUI)
        self.ui.adaptThicknessSpinBox.connect("valueChanged(double)", self.updateParameterNodeFromGUI)
        self.ui.outputSliceSpacingSpinBox.connect("valueChanged(double)", self.updateParameterNodeFromGUI)
        self.ui.adaptSavePathLineEdit.connect("editingFinished()", self.updateParameterNodeFromGUI)
        self.ui.adaptSaveBrowseButton.connect("clicked(bool)", self.onBrowseAdaptedModelFile)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

        self.ui.progressBar.setVisible(False)
        self.initializeParameterNode()
        self.startDeviceDetection()

    def cleanup(self):
        from .process import shutdownWorkers

        if self._job is not None:
            self._job.cancel()
        shutdownWorkers()
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
            defaults = self.logic.defaultParameters()
            self.ui.windowSpinBox.value = int(node.GetParameter("Window") or defaults["Window"])
            self.ui.batchSpinBox.value = int(node.GetParameter("Batch") or defaults["Batch"])
            self.ui.overlapSpinBox.value = float(node.GetParameter("Overlap") or defaults["Overlap"])
            self.ui.showResultCheckBox.checked = node.GetParameter("ShowResult") != "false"
            self.ui.mirrorEnsembleCheckBox.checked = node.GetParameter("MirrorEnsemble") == "true"
            self.ui.adaptCheckBox.checked = node.GetParameter("Adapt") == "true"
            self.ui.adaptMinutesSpinBox.value = float(node.GetParameter("AdaptMinutes") or defaults["AdaptMinutes"])
            self._selectData(self.ui.adaptProfileSelector, node.GetParameter("AdaptSliceProfile") or defaults["AdaptSliceProfile"])
            self.ui.adaptThicknessSpinBox.value = float(node.GetParameter("AdaptSliceThickness") or defaults["AdaptSliceThickness"])
            self.ui.outputSliceSpacingSpinBox.value = float(node.GetParameter("OutputSliceSpacing") or defaults["OutputSliceSpacing"])
            self.ui.adaptSavePathLineEdit.text = node.GetParameter("AdaptSaveModel") or ""
            stackIDs = {node.GetNthNodeReferenceID("FusionStack", n) for n in range(node.GetNumberOfNodeReferences("FusionStack"))}
            for volume in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode"):
                self.ui.stacksSelector.setCheckState(volume, qt.Qt.Checked if volume.GetID() in stackIDs else qt.Qt.Unchecked)
            self.ui.registerStacksCheckBox.checked = node.GetParameter("RegisterStacks") == "true"
            self.ui.unionFieldOfViewCheckBox.checked = node.GetParameter("FusionFieldOfView") == "union"
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
            node.SetParameter("Precision", self.ui.precisionSelector.currentData or self.logic.defaultParameters()["Precision"])
            node.SetParameter("Window", str(self.ui.windowSpinBox.value))
            node.SetParameter("Batch", str(self.ui.batchSpinBox.value))
            node.SetParameter("Overlap", str(self.ui.overlapSpinBox.value))
            node.SetParameter("ShowResult", "true" if self.ui.showResultCheckBox.checked else "false")
            node.SetParameter("MirrorEnsemble", "true" if self.ui.mirrorEnsembleCheckBox.checked else "false")
            node.SetParameter("Adapt", "true" if self.ui.adaptCheckBox.checked else "false")
            node.SetParameter("AdaptMinutes", str(self.ui.adaptMinutesSpinBox.value))
            node.SetParameter("AdaptSliceProfile", self.ui.adaptProfileSelector.currentData
                              or self.logic.defaultParameters()["AdaptSliceProfile"])
            node.SetParameter("AdaptSliceThickness", str(self.ui.adaptThicknessSpinBox.value))
            node.SetParameter("OutputSliceSpacing", str(self.ui.outputSliceSpacingSpinBox.value))
            node.SetParameter("AdaptSaveModel", self.ui.adaptSavePathLineEdit.text.strip())
            node.RemoveNodeReferenceIDs("FusionStack")
            for stack in self.ui.stacksSelector.checkedNodes():
                node.AddNodeReferenceID("FusionStack", stack.GetID())
            node.SetParameter("RegisterStacks", "true" if self.ui.registerStacksCheckBox.checked else "false")
            node.SetParameter("FusionFieldOfView", "union" if self.ui.unionFieldOfViewCheckBox.checked else "first")
        finally:
            node.EndModify(wasModifying)

    @staticmethod
    def _selectData(comboBox, value):
        index = comboBox.findData(value)
        if index >= 0:
            comboBox.setCurrentIndex(index)

    def updateApplyButton(self):
        self.updateFuseButton()
        self.updateFinetuneButton()
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
        try:  # a thick-slice input: say what Apply will do
            throughPlane = self.logic.throughPlane(inputNode, self.ui.modelSelector.currentData)
            adaptable = self.logic.canAdapt(inputNode, self.ui.modelSelector.currentData)
            description = self.logic.inputDescription(inputNode, self.ui.modelSelector.currentData,
                                                      adapt=adaptable and self.ui.adaptCheckBox.checked,
                                                      adaptMinutes=self.ui.adaptMinutesSpinBox.value,
                                                      outputSliceSpacing=self.outputSliceSpacing(throughPlane),
                                                      adaptSliceProfile=self.ui.adaptProfileSelector.currentData)
        except Exception:  # noqa: BLE001 - a description must never break the panel
            throughPlane, adaptable, description = False, False, ""
        self.ui.adaptCheckBox.enabled = adaptable
        self.ui.adaptMinutesSpinBox.enabled = adaptable and self.ui.adaptCheckBox.checked
        self.ui.adaptProfileSelector.enabled = self.ui.adaptMinutesSpinBox.enabled
        self.ui.adaptThicknessSpinBox.enabled = self.ui.adaptMinutesSpinBox.enabled
        self.ui.adaptSavePathLineEdit.enabled = self.ui.adaptMinutesSpinBox.enabled
        self.ui.adaptSaveBrowseButton.enabled = self.ui.adaptMinutesSpinBox.enabled
        self.ui.outputSliceSpacingSpinBox.enabled = throughPlane  # also for an interpolation baseline
        if description:
            self.ui.statusLabel.text = description

    def fusionStacks(self):
        from .fusion import fusionStackNodes

        return fusionStackNodes(self.ui.inputSelector.currentNode(), self.ui.stacksSelector.checkedNodes())

    def updateFuseButton(self):
        from .fusion import fusionReadiness

        ready, reason = fusionReadiness(self.logic, self.fusionStacks())
        self.ui.fuseButton.enabled = ready and self._job is None
        self.ui.fuseButton.toolTip = _("Running: Apply is Cancel") if self._job is not None else reason

    def updateFinetuneButton(self, *unused):
        from .finetuning import finetuneReadiness

        ready, reason = finetuneReadiness(self.logic, self.ui.finetuneScansSelector.checkedNodes(),
                                          self.ui.finetuneValidationSelector.checkedNodes(),
                                          self.ui.modelSelector.currentData, self.ui.finetuneSavePathLineEdit.text)
        self.ui.finetuneButton.enabled = ready and self._job is None
        self.ui.finetuneButton.toolTip = _("Running: Apply is Cancel") if self._job is not None else reason

    def onBrowseFinetunedModelFile(self):
        path = qt.QFileDialog.getSaveFileName(self.parent, _("Save the fine-tuned model as"), "", _("Model card (*.json)"))
        if path:
            self.ui.finetuneSavePathLineEdit.text = path if path.lower().endswith(".json") else path + ".json"

    def onFinetuneButton(self):
        self.whenDependenciesReady(self.startFinetune)

    def startFinetune(self, device):
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Writing the training volumes...")
        try:
            self._job = self.logic.startFineTune(
                self.ui.finetuneScansSelector.checkedNodes(), self.ui.finetuneSavePathLineEdit.text.strip(),
                model=self.ui.modelSelector.currentData, validationNodes=self.ui.finetuneValidationSelector.checkedNodes(),
                minutes=self.ui.finetuneMinutesSpinBox.value, device=device, progress=self.onProgress)
        except Exception as error:  # a bad volume or file name: nothing was started
            self.ui.statusLabel.text = str(error)
            slicer.util.errorDisplay(_("Fine-tuning could not start: ") + str(error))
            return
        self.onJobStarted()

    def outputSliceSpacing(self, enabled):
        """The spin box's spacing in mm, or None for "in-plane" (0) or an input it does not apply to."""
        value = self.ui.outputSliceSpacingSpinBox.value
        return float(value) if enabled and value > 0 else None

    # Models -----------------------------------------------------------------------------------------
    def populateModels(self):
        self.ui.modelSelector.clear()
        defaultName = self.logic.defaultModelName()
        for name in self.logic.bundledModels():
            label = name + (_(" (default)") if name == defaultName else "")
            self.ui.modelSelector.addItem(label, name)
        for name in self.logic.interpolationModels():
            self.ui.modelSelector.addItem(f"{name} " + _("(interpolation baseline)"), name)

    def selectModel(self, model):
        if model == "default":
            defaultName = self.logic.defaultModelName()
            model = defaultName if defaultName in self.logic.bundledModels() else self.logic.interpolationModels()[0]
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

    def onBrowseAdaptedModelFile(self):
        path = qt.QFileDialog.getSaveFileName(
            self.parent, _("Save the adapted model as"), "", _("Model card (*.json)")
        )
        if path:
            self.ui.adaptSavePathLineEdit.text = path if path.lower().endswith(".json") else path + ".json"
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
        self.whenDependenciesReady(self.startJob)

    def onFuseButton(self):
        self.whenDependenciesReady(self.startFusion)

    def whenDependenciesReady(self, start):
        """``start(device)`` now, or after the missing Python packages are installed (one question first)."""
        self.updateParameterNodeFromGUI()
        self._lastStart = start
        try:
            missing = self.logic.missingDependencies()
        except Exception as error:
            slicer.util.errorDisplay(_("Checking the Python packages failed: ") + str(error))
            return
        if missing:  # one question, then the installation runs in the background with progress; the action follows
            if not slicer.util.confirmOkCancelDisplay(self.logic.dependencyConfirmationText(missing)):
                self.ui.statusLabel.text = _("Python packages not installed: nothing was done.")
                return
            self.startInstallation(missing)
            return
        start(self.ui.deviceSelector.currentData or "auto")

    def startInstallation(self, missing):
        from .installer import PackageInstallation

        self.ui.progressBar.value = 0
        self.ui.progressBar.setVisible(True)
        self.setInputsEnabled(False)
        self._job = PackageInstallation(missing, progress=self.onProgress).start()
        self._pollTimer.start()
        self.updateApplyButton()

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
                batch=self.ui.batchSpinBox.value, precision=self.ui.precisionSelector.currentData,
                adapt=self.ui.adaptCheckBox.enabled and self.ui.adaptCheckBox.checked,
                adaptMinutes=self.ui.adaptMinutesSpinBox.value,
                adaptSliceProfile=self.ui.adaptProfileSelector.currentData,
                adaptSliceThickness=self.ui.adaptThicknessSpinBox.value or None,
                saveAdaptedModel=self.ui.adaptSavePathLineEdit.text.strip() or None,
                mirrorEnsemble=self.ui.mirrorEnsembleCheckBox.checked,
                outputSliceSpacing=self.outputSliceSpacing(self.ui.outputSliceSpacingSpinBox.enabled),
            )
        except Exception as error:  # bad input, missing model...: nothing was started or added
            self.ui.statusLabel.text = str(error)
            slicer.util.errorDisplay(_("Super-resolution could not start: ") + str(error))
            return
        self.onJobStarted()

    def startFusion(self, device):
        from .fusion import fusionModel

        stacks = self.fusionStacks()
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Writing the stacks...")
        try:
            self._job = self.logic.startFusion(
                stacks, model=fusionModel(self.logic, self.ui.modelSelector.currentData, stacks[0]), device=device,
                progress=self.onProgress, register=self.ui.registerStacksCheckBox.checked,
                fieldOfView="union" if self.ui.unionFieldOfViewCheckBox.checked else "first",
                precision=self.ui.precisionSelector.currentData or "auto")
        except Exception as error:  # a non-linear transform, a bad stack...: nothing was started or added
            self.ui.statusLabel.text = str(error)
            slicer.util.errorDisplay(_("Fusing the stacks could not start: ") + str(error))
            return
        self.onJobStarted()

    def onJobStarted(self):
        self.ui.progressBar.setVisible(True)
        self.setInputsEnabled(False)
        self.updateApplyButton()
        self._pollTimer.start()

    def onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        if message:
            self.ui.statusLabel.text = message

    def onPollTimer(self):
        from .installer import PackageInstallation

        job = self._job
        if job is None:
            self._pollTimer.stop()
            return
        state = job.poll()
        if state == job.RUNNING:
            return
        self.onJobFinished()
        if isinstance(job, PackageInstallation):
            self.onInstallationFinished(job)
            return
        if state == job.COMPLETED and getattr(job, "modelPath", None):  # a fine-tune: a model file, no volume
            from .finetuning import finishedText

            self.ui.statusLabel.text = finishedText(job)
            self.selectModel(job.modelPath)
            self.ui.finetuneSavePathLineEdit.text = ""  # written once: the next fine-tune does not overwrite it unasked
        elif state == job.COMPLETED:
            self.ui.statusLabel.text = _("Done in {seconds:.1f} s: {name}").format(
                seconds=job.elapsed, name=job.outputVolumeNode.GetName())
            from .process import savedModelText, warningsText

            saved = savedModelText(job)
            if saved:  # saved once: the next Apply does not overwrite it unasked
                self.ui.statusLabel.text += saved
                self.ui.adaptSavePathLineEdit.text = ""
                self.updateParameterNodeFromGUI()
            self.ui.statusLabel.text += warningsText(job)
            if self.ui.showResultCheckBox.checked:
                self.logic.showResult(job.inputVolumeNode, job.outputVolumeNode)
        elif state == job.FAILED:
            self.ui.statusLabel.text = _("Failed: ") + job.errorMessage
            if job.gpuOutOfMemory and slicer.util.confirmYesNoDisplay(
                _("The GPU ran out of memory even with batch 1 and the smallest window.\n\n"
                  "Run on the CPU instead? (slower, uses main memory)")
            ):
                (self._lastStart or self.startJob)("cpu")
                return
            slicer.util.errorDisplay(_("Super-resolution failed: ") + job.errorMessage,
                                     detailedText="\n".join(job.log[-50:]))

    def onInstallationFinished(self, job):
        if job.state == job.COMPLETED and not self.logic.missingDependencies():
            self.ui.statusLabel.text = _("Python packages installed in {seconds:.0f} s.").format(seconds=job.elapsed)
            self.startDeviceDetection()
            (self._lastStart or self.startJob)(self.ui.deviceSelector.currentData or "auto")
        elif job.state == job.CANCELLED:
            self.ui.statusLabel.text = _("Installation cancelled: nothing was done.")
        else:
            self.ui.statusLabel.text = _("Installing the Python packages failed: ") + job.errorMessage
            slicer.util.errorDisplay(_("Installing the Python packages failed: ") + job.errorMessage,
                                     detailedText="\n".join(job.log[-50:]))

    def onJobFinished(self):
        self._pollTimer.stop()
        self._job = None
        self.ui.progressBar.setVisible(False)
        self.setInputsEnabled(True)
        self.updateApplyButton()

    def setInputsEnabled(self, enabled):
        for name in ("inputsCollapsibleButton", "modelCollapsibleButton", "advancedCollapsibleButton",
                     "stacksCollapsibleButton", "finetuneCollapsibleButton"):
            getattr(self.ui, name).enabled = enabled
