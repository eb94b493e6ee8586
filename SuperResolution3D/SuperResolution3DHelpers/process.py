"""One super-resolution run in a separate Python process, driven by polling (no Qt needed), with the one
retry policy of the module.

``start()`` writes the input node to a temporary .nrrd through a MRML storage node and launches
``python -m SuperResolution3DLib.cli predict IN OUT --progress lines ...``; a reader thread feeds the process
output to a queue; ``poll()`` (a QTimer in the panel, a loop in ``wait()``) turns the lines into events with
the library's line protocol (``SuperResolution3DLib.core.protocol``, standard library only) and, when the
process ends, reads the result back through a storage node into the output node. ``cancel()`` kills the process
tree. The temporary folder is deleted in every case and the scene is only touched when a result is read back.

Warm worker: by default a run goes to a ``WarmWorker``, one ``python -m SuperResolution3DLib.worker`` process per
Python executable that stays alive between runs, so torch and the library are imported once per Slicer session,
not once per Apply (its ``DONE <code>`` line ends a run instead of the process exit). A cancelled run kills the
worker (the next run starts a new one); while it is busy, another run gets a process of its own. ``shutdownWorkers()``
ends them (the module's cleanup, and at exit).

Retry policy: a failure whose error code is ``gpu_out_of_memory`` is retried with batch 1, then with half the
window down to ``SMALLEST_RETRY_WINDOW``; after that the run fails with ``gpuOutOfMemory`` set (the panel then
offers the CPU).
"""

import atexit
import json
import logging
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time

from .locations import LIBRARY_PACKAGE, libraryRootDir, processEnvironment, pythonExecutable

SMALLEST_RETRY_WINDOW = 16


AUTO_WINDOW_ON_GPU = 64  # what --window auto means on a GPU (inference.api.AUTO_WINDOW_FALLBACK)


def smallerSettings(window, batch):
    """The next, smaller try after a GPU out-of-memory error: batch 1 first, then half the window (0: auto,
    64 on a GPU); or None."""
    window = window or AUTO_WINDOW_ON_GPU
    if batch > 1:
        return window, 1
    if window > SMALLEST_RETRY_WINDOW:
        return max(SMALLEST_RETRY_WINDOW, window // 2), batch
    return None


def adaptationOptions(minutes, sliceProfile=None, sliceThickness=None, recorded=None, spacing=None, saveTo=None):
    """The process settings of an adaptation (``sr3d predict --adapt``), checked by the library's
    ``AdaptationSettings`` before anything starts: ``InputVolumeError`` names a bad profile, thickness or budget.
    ``recorded`` (``acquisition.recordedSlices``) of a volume with ``spacing`` fills in what the user left open,
    by ``sr3d predict --adapt``'s rule (``data.acquisition.adaptation_with_record``). ``saveTo``: the model card
    (.json) to save the adapted model to (``--save-adapted``; ``ModelFileError`` when it cannot be written there)."""
    from SuperResolution3DLib.core.anisotropy import find_thick_slices
    from SuperResolution3DLib.core.config import AdaptationSettings
    from SuperResolution3DLib.data.acquisition import adaptation_with_record
    from SuperResolution3DLib.models.card import new_model_card_path

    settings = AdaptationSettings.from_options(minutes=float(minutes), slice_profile=sliceProfile,
                                               slice_thickness=None if sliceThickness is None else float(sliceThickness))
    thick = find_thick_slices(spacing) if recorded is not None and spacing is not None else None
    if thick is not None:
        settings, taken = adaptation_with_record(settings, recorded, thick.axis, thick.thickness)
        if taken:
            logging.info(taken)
    options = {"adapt_minutes": settings.minutes, "adapt_slice_profile": settings.slice_profile,
               "adapt_slice_thickness": settings.slice_thickness}
    if saveTo:
        options["adapt_save_path"] = str(new_model_card_path(saveTo, "the adapted model's file"))
    return options


def knownSliceOptions(recorded=None, spacing=None):
    """The process settings that make a plain run's output give back the slices of a volume with ``spacing`` whose
    profile ``recorded`` (``acquisition.recordedSlices``) gives exactly (``sr3d degrade``'s note: the library's
    ``data.acquisition.settings_with_known_profile``), else ``{}``."""
    from SuperResolution3DLib.core.anisotropy import find_thick_slices
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.data.acquisition import settings_with_known_profile

    thick = find_thick_slices(spacing) if recorded is not None and spacing is not None else None
    if thick is None:
        return {}
    known, _ = settings_with_known_profile(InferenceSettings(), recorded, thick.axis, thick.thickness)
    return {} if known.slice_profile is None else {"slice_profile": known.slice_profile,
                                                   "slice_thickness": known.slice_thickness}


def sliceOptions(adapt, minutes, sliceProfile=None, sliceThickness=None, recorded=None, spacing=None, saveTo=None):
    """``adaptationOptions`` for a run with adaptation, ``knownSliceOptions`` for one without."""
    if adapt:
        return adaptationOptions(minutes, sliceProfile, sliceThickness, recorded, spacing, saveTo)
    return knownSliceOptions(recorded, spacing)


def writeVolumeNode(volumeNode, path):
    """Write a volume node to ``path`` (uncompressed: written and read back fast)."""
    import slicer

    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(path)
    storage.SetUseCompression(False)
    if not storage.WriteData(volumeNode):
        raise RuntimeError(f"cannot write the input volume to {path}")


def savedModelText(job):
    """What a finished job saved besides its output, for the status line: the adapted model's file, and whether its
    card (read back) holds adapted weights or, where the held-out check rejected them, the pre-trained ones."""
    path = job.settings.get("adapt_save_path")
    if not path:
        return ""
    from SuperResolution3DLib.models.card import ADAPTATION_NOT_KEPT, read_model_card

    kept = read_model_card(path).get("adaptation", {}).get("kept")
    return f"; adapted model saved to {path}" if kept else f"; model saved to {path} ({ADAPTATION_NOT_KEPT})"


def warningsText(job):
    """The library's warnings during a finished job (``sr3d predict: warning: ...`` lines of its log), for the status
    line: e.g. that the input's padding outside a CT's field of view was kept, or NaN voxels replaced."""
    notes = [line.split(": warning: ", 1)[1].strip() for line in job.log if ": warning: " in line]
    return "".join(f"\nNote: {note}" for note in notes)


def jobError(job):
    """The library error a failed or cancelled job stands for (its class is the job's ``errorKind``)."""
    from SuperResolution3DLib.core import errors

    if job.state == job.CANCELLED:
        return errors.CancelledError("super-resolution cancelled; the scene is unchanged")
    kind = getattr(errors, job.errorKind or "", None)
    if not (isinstance(kind, type) and issubclass(kind, errors.SR3DError)):
        kind = errors.SR3DError
    return kind(job.errorMessage)


def _popen(command, **extra):
    options = {}
    if os.name == "nt":
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True  # its own process group: cancel kills launcher and Python
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
        cwd=libraryRootDir(), env=processEnvironment(), **options, **extra,
    )


def _readLines(process, lines):
    for line in iter(process.stdout.readline, ""):
        lines.put(line.rstrip("\n"))
    process.stdout.close()
    lines.put(None)


def pendingLines(lines):
    """The lines a reader thread (``_readLines``) has queued so far; ``None`` marks the end of the output."""
    while True:
        try:
            yield lines.get_nowait()
        except queue.Empty:
            return


def _killTree(process):
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


class WarmWorker:
    """A long-lived ``python -m SuperResolution3DLib.worker`` process: requests in on stdin, lines out to ``lines``."""

    def __init__(self, python):
        self.python = python
        self.process = _popen([python, "-m", f"{LIBRARY_PACKAGE}.worker"], stdin=subprocess.PIPE)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=_readLines, args=(self.process, self.lines), daemon=True)
        self.reader.start()
        self.busy = False
        self.runs = 0

    @property
    def alive(self):
        return self.process.poll() is None

    def submit(self, argv):
        self.process.stdin.write(json.dumps({"argv": [str(a) for a in argv]}) + "\n")
        self.process.stdin.flush()
        self.busy = True
        self.runs += 1

    def kill(self):
        _killTree(self.process)
        self.reader.join(timeout=5)


_workers = {}


def acquireWorker(python):
    """The idle warm worker of ``python`` (started when there is none, or it died), or None while it is busy."""
    worker = _workers.get(python)
    if worker is not None and not worker.alive:
        worker = None
    if worker is None:
        worker = _workers[python] = WarmWorker(python)
    if worker.busy:
        return None
    return worker


def dropWorker(worker):
    """Kill ``worker`` and forget it (a cancelled run, a broken pipe)."""
    worker.kill()
    if _workers.get(worker.python) is worker:
        del _workers[worker.python]


def shutdownWorkers():
    for worker in list(_workers.values()):
        dropWorker(worker)


atexit.register(shutdownWorkers)


class SuperResolutionProcess:
    """A background run; see the module docstring. ``state`` is one of RUNNING, COMPLETED, FAILED, CANCELLED.

    ``writeResult(imageData, ijkToRAS)`` puts the read-back result into the scene and returns the output node.
    A failed run's message is ``errorMessage``, the library error's class name ``errorKind`` and its code
    (``core.protocol.ErrorCode``) ``errorCode``.
    """

    RUNNING, COMPLETED, FAILED, CANCELLED = "running", "completed", "failed", "cancelled"
    LOG_LINES = 200

    def __init__(self, inputVolumeNode, modelReference, roiBox, settings, writeResult, python=None, progress=None,
                 useWorker=True):
        self.inputVolumeNode = inputVolumeNode
        self.outputVolumeNode = None
        self.modelReference = modelReference
        self.roiBox = roiBox
        self.settings = dict(settings)
        self.writeResult = writeResult
        self.python = python or pythonExecutable()
        self.progress = progress
        self.state = None
        self.errorMessage = ""
        self.errorKind = None
        self.errorCode = None
        self._errorEvent = None
        self.gpuOutOfMemory = False
        self.log = []
        self.tempDir = None
        self.process = None
        self._queue = None
        self._reader = None
        self.startTime = None
        self.elapsed = None
        self.useWorker = useWorker
        self.worker = None  # the WarmWorker running this job, when it runs in one

    # Files and command ------------------------------------------------------------------------------
    @property
    def inputPath(self):
        """The input node written as ``input/<node name>.nrrd``: the name is what an adapted model's card records."""
        name = self.inputVolumeNode.GetName() if self.inputVolumeNode is not None else ""
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name or "").strip("._") or "input"
        return os.path.join(self.tempDir, "input", name + ".nrrd")

    @property
    def outputPath(self):
        return os.path.join(self.tempDir, "output.nrrd")

    def command(self):
        s = self.settings
        command = [
            self.python, "-m", f"{LIBRARY_PACKAGE}.cli", "predict", self.inputPath, self.outputPath,
            "--model", str(self.modelReference), "--device", s["device"], "--window", str(s["window"] or "auto"),
            "--overlap", str(s["overlap"]), "--batch", str(s["batch"]), "--precision", s["precision"],
            "--progress", "lines",
        ]
        if "adapt_minutes" in s:
            command += ["--adapt", "--adapt-minutes", str(s["adapt_minutes"])]
            if s.get("adapt_slice_profile") is not None:
                command += ["--slice-profile", s["adapt_slice_profile"]]
            if s.get("adapt_slice_thickness") is not None:
                command += ["--slice-thickness", str(s["adapt_slice_thickness"])]
            if s.get("adapt_save_path"):
                command += ["--save-adapted", s["adapt_save_path"]]
        elif s.get("slice_profile") is not None:  # the input file written for the run has lost the note
            command += ["--slice-profile", s["slice_profile"], "--slice-thickness", str(s["slice_thickness"])]
        if s.get("mirror_ensemble"):
            command.append("--mirror-ensemble")
        if s.get("output_slice_spacing") is not None:
            command += ["--output-slice-spacing", str(s["output_slice_spacing"])]
        if self.roiBox is not None:
            command += ["--roi", ",".join(str(v) for v in tuple(self.roiBox[0]) + tuple(self.roiBox[1]))]
        return command

    def writeInputs(self):
        """Write the input node where ``command`` reads it."""
        writeVolumeNode(self.inputVolumeNode, self.inputPath)

    def _report(self, fraction, message):
        if self.progress is not None:
            self.progress(fraction, message)

    def start(self):
        import slicer

        self.startTime = time.time()
        parent = None
        if hasattr(slicer, "app") and getattr(slicer.app, "temporaryPath", None):
            parent = slicer.app.temporaryPath
        self.tempDir = tempfile.mkdtemp(prefix="SuperResolution3D-", dir=parent)
        try:
            os.mkdir(os.path.dirname(self.inputPath))
            self._report(0.0, "writing the input volume")
            self.writeInputs()
            self._launch()
        except BaseException:
            self._cleanup()
            raise
        self.state = self.RUNNING

    def _launch(self):
        self.errorKind, self.errorCode, self._errorEvent = None, None, None
        command = self.command()
        servable = command[1:3] == ["-m", f"{LIBRARY_PACKAGE}.cli"]  # a worker serves the library's CLI only
        self.worker = acquireWorker(self.python) if self.useWorker and servable else None
        if self.worker is not None:
            try:
                self.worker.submit(command[3:])  # the argv after "python -m <package>.cli"
                self.process, self._queue, self._reader = self.worker.process, self.worker.lines, None
                return
            except OSError:  # the worker died between runs: a process of its own instead
                dropWorker(self.worker)
                self.worker = None
        self.process = _popen(command, stdin=subprocess.DEVNULL)
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=_readLines, args=(self.process, self._queue), daemon=True)
        self._reader.start()

    # Polling ----------------------------------------------------------------------------------------
    @property
    def finished(self):
        return self.state in (self.COMPLETED, self.FAILED, self.CANCELLED)

    def poll(self):
        """Handle the output so far; when the run has ended, finish the job. Returns ``self.state``."""
        from SuperResolution3DLib.core.protocol import DoneEvent, parse_line

        if self.state != self.RUNNING:
            return self.state
        for line in pendingLines(self._queue):
            if line is None:  # the process ended (a worker only ends like this when it crashed)
                self.process.wait()
                if self._reader is not None:
                    self._reader.join()
                if self.worker is not None:
                    dropWorker(self.worker)
                    self.worker = None
                self._finish(self.process.returncode)
                return self.state
            event = parse_line(line)
            if isinstance(event, DoneEvent) and self.worker is not None:
                self.worker.busy = False
                self.worker = None
                self._finish(event.returncode)
                return self.state
            self._handleLine(line)
        return self.state

    def _handleLine(self, line):
        from SuperResolution3DLib.core.protocol import ErrorEvent, ProgressEvent, parse_line

        event = parse_line(line)
        if isinstance(event, ProgressEvent):
            self._report(0.02 + 0.93 * event.fraction, event.message)
        elif isinstance(event, ErrorEvent):  # the same message follows on stderr as "...: error: <message>"
            self._errorEvent = event
        elif event is not None:  # READY, or a DONE of no job of ours
            return
        else:
            self.log.append(line)
            del self.log[: -self.LOG_LINES]
            logging.info(f"SuperResolution3D process: {line}")

    def wait(self, timeout=None, interval=0.05, cancel=None):
        """Poll until the job ends; ``cancel`` (a callable or ``threading.Event``) stops it. On timeout the job
        is cancelled and ``TimeoutError`` raised."""
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() == self.RUNNING:
            if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
                self.cancel()
                break
            if deadline is not None and time.time() > deadline:
                self.cancel()
                raise TimeoutError(f"super-resolution did not finish within {timeout} s; cancelled")
            time.sleep(interval)
        return self.state

    def _finish(self, returnCode):
        from SuperResolution3DLib.core.protocol import ErrorCode

        try:
            if returnCode == 0:
                self._report(0.96, "reading the result")
                self.outputVolumeNode = self._readResult()
                self.state = self.COMPLETED
                self._report(1.0, "done")
                return
            event = self._errorEvent
            self.errorKind = event.kind if event else None
            self.errorCode = event.code if event else ErrorCode.FAILED
            message = event.message if event else self._errorFromLog(returnCode)
            if self.errorCode == ErrorCode.GPU_OUT_OF_MEMORY and self.settings["device"] != "cpu":
                smaller = smallerSettings(self.settings["window"], self.settings["batch"])
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
        import slicer

        from .geometry import ijkToRASOf

        if not os.path.isfile(self.outputPath):
            raise RuntimeError(f"the super-resolution process wrote no output ({self.outputPath})")
        result = slicer.vtkMRMLScalarVolumeNode()
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(self.outputPath)
        storage.SetSingleFile(True)
        if not storage.ReadData(result) or result.GetImageData() is None:
            raise RuntimeError(f"cannot read the super-resolved volume {self.outputPath}")
        return self.writeResult(result.GetImageData(), ijkToRASOf(result))

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
        if self.worker is not None:  # the worker is in the middle of this run: it goes, the next run starts another
            dropWorker(self.worker)
            self.worker = None
            return
        _killTree(self.process)

    def _cleanup(self):
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.tempDir:
            shutil.rmtree(self.tempDir, ignore_errors=True)
