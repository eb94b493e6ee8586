"""Installing the missing Python packages in a background process, polled like a super-resolution run.

The user confirms once (the panel's dialog lists the packages); then the commands run one after another in
``PythonSlicer`` (Slicer's own Python, so the packages land in Slicer's environment), never on the GUI thread:

* PyTorch with ``light-the-torch`` (``python -m light_the_torch install torch torchvision``), as the PyTorch
  extension does, so that the build matching the NVIDIA driver is chosen (``light-the-torch`` is pip-installed
  first when it is missing);
* the other requirements with ``python -m pip install``.

No Slicer installer API is called, so Slicer >= 5.12 (whose ``pip_install`` asks its own question) never asks a
second time. ``poll()`` reports the pip lines as progress messages; ``cancel()`` kills the running command.
"""

import importlib
import importlib.util
import queue
import subprocess
import threading
import time

TORCH_NAMES = ("torch",)
LIGHT_THE_TORCH = "light-the-torch>=0.5"


def requirementName(requirement):
    for separator in "<>=!~; [":
        requirement = requirement.split(separator)[0]
    return requirement.strip().lower()


def installCommands(requirements, python, haveLightTheTorch=None):
    """The commands that install ``requirements`` with ``python``: ``[(label, argv), ...]``."""
    if haveLightTheTorch is None:
        haveLightTheTorch = importlib.util.find_spec("light_the_torch") is not None
    torch = [r for r in requirements if requirementName(r) in TORCH_NAMES]
    others = [r for r in requirements if r not in torch]
    commands = []
    if torch:
        if not haveLightTheTorch:
            commands.append(("installing light-the-torch", [python, "-m", "pip", "install", LIGHT_THE_TORCH]))
        commands.append(("installing PyTorch for this computer's GPU (or CPU)",
                         [python, "-m", "light_the_torch", "install"] + torch + ["torchvision"]))
    if others:
        commands.append((f"installing {', '.join(requirementName(r) for r in others)}",
                         [python, "-m", "pip", "install"] + others))
    return commands


class PackageInstallation:
    """Runs ``installCommands`` one after another; ``state`` is RUNNING, COMPLETED, FAILED or CANCELLED."""

    RUNNING, COMPLETED, FAILED, CANCELLED = "running", "completed", "failed", "cancelled"
    LOG_LINES = 400

    def __init__(self, requirements, python=None, progress=None, commands=None):
        from .locations import pythonExecutable

        self.requirements = list(requirements)
        self.python = python or pythonExecutable()
        self.commands = commands if commands is not None else installCommands(self.requirements, self.python)
        self.progress = progress
        self.state = None
        self.step = 0
        self.log = []
        self.errorMessage = ""
        self.process = None
        self._queue = None
        self.startTime = None
        self.elapsed = None

    def start(self):
        self.startTime = time.time()
        self.state = self.RUNNING
        self._launch()
        return self

    def _launch(self):
        from .process import _popen, _readLines

        label, command = self.commands[self.step]
        self.log.append("$ " + " ".join(command))
        self._report(0.0, label)
        self.process = _popen(command, stdin=subprocess.DEVNULL)
        self._queue = queue.Queue()
        threading.Thread(target=_readLines, args=(self.process, self._queue), daemon=True).start()

    def _report(self, within, message):
        if self.progress is not None:
            self.progress((self.step + within) / max(1, len(self.commands)), message)

    def poll(self):
        from .process import pendingLines

        if self.state != self.RUNNING:
            return self.state
        for line in pendingLines(self._queue):
            if line is None:
                self._stepEnded(self.process.wait())
                return self.state
            self.log.append(line)
            del self.log[: -self.LOG_LINES]
            if line.strip():
                self._report(0.5, f"{self.commands[self.step][0]}: {line.strip()[:120]}")
        return self.state

    def _stepEnded(self, returnCode):
        if returnCode != 0:
            label = self.commands[self.step][0]
            last = next((l for l in reversed(self.log) if l.strip()), "")
            self.errorMessage = f"{label} failed (exit code {returnCode}): {last.strip()}"
            self._end(self.FAILED)
            return
        self.step += 1
        if self.step < len(self.commands):
            self._launch()
            return
        importlib.invalidate_caches()
        self._report(0.0, "packages installed")
        self._end(self.COMPLETED)

    def _end(self, state):
        self.state = state
        self.elapsed = time.time() - self.startTime

    def wait(self, timeout=None, interval=0.1):
        deadline = None if timeout is None else time.time() + timeout
        import slicer

        app = getattr(slicer, "app", None)
        while self.poll() == self.RUNNING:
            if deadline is not None and time.time() > deadline:
                self.cancel()
                raise TimeoutError(f"installing the packages did not finish within {timeout} s; cancelled")
            if app is not None:
                app.processEvents()  # a console call waits here; the application keeps drawing
            time.sleep(interval)
        return self.state

    def cancel(self):
        from .process import _killTree

        if self.state != self.RUNNING:
            return
        _killTree(self.process)
        self._end(self.CANCELLED)
