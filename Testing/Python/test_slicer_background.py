"""The Slicer module's background-process path on a real MRML scene: temp files, the CLI, reading back, cancel.

The process is ``python -m SuperResolution3DLib.cli predict ...`` (in Slicer: ``PythonSlicer``); here the
Python running the tests. Polled with a plain loop, as the panel polls with a QTimer.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import slicer
except ImportError as error:  # not installed, or a broken install (missing shared library)
    pytest.skip(f"slicer-core cannot be imported ({error}); pip install slicer-core", allow_module_level=True)
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core (no vtkMRMLScene)", allow_module_level=True)

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parents[1] / "SuperResolution3D"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import slicer_shim  # noqa: E402

slicer_shim.install()
import SuperResolution3D as module  # noqa: E402
from SuperResolution3DHelpers import geometry, process  # noqa: E402
# the scene and logic fixtures are shared with the in-process Logic tests
from test_slicer_logic import add_oblique_volume, add_roi, landmark_distance, logic, scene  # noqa: E402, F401

TIMEOUT = 300


def test_background_process_end_to_end(scene, logic):
    input_node = add_oblique_volume()
    voxels_before = slicer.util.arrayFromVolume(input_node).copy()
    nodes_before = scene.GetNumberOfNodes()
    reports = []

    job = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable,
                             progress=lambda fraction, message: reports.append((fraction, message)))
    assert job.state == job.RUNNING and os.path.isfile(job.inputPath)
    assert scene.GetNumberOfNodes() == nodes_before  # writing the temporary input adds nothing to the scene
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)

    output_node = job.outputVolumeNode
    assert output_node.GetName() == "Input_SR4x" and output_node.GetScene() is scene
    assert slicer.util.arrayFromVolume(output_node).shape == (32, 36, 40)
    assert landmark_distance(input_node, output_node) < 1e-6
    np.testing.assert_allclose(np.array(output_node.GetSpacing()) * 4, input_node.GetSpacing(), rtol=1e-6)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(input_node), voxels_before)
    assert not os.path.exists(job.tempDir)  # temporary files cleaned
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("interpolation" in message for _, message in reports)  # PROGRESS lines of the CLI came through
    assert scene.GetNumberOfNodes() == nodes_before + 2

    # The same voxels as the synchronous path.
    direct = logic.process(input_node, model="trilinear", device="cpu")
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output_node), slicer.util.arrayFromVolume(direct),
                               rtol=1e-6, atol=1e-4)


def test_background_process_with_roi_passes_the_voxel_box(scene, logic):
    input_node = add_oblique_volume()
    center = module.ijkToRASOf(input_node) @ np.array([5.0, 4.0, 3.5, 1.0])
    roi = add_roi(center[:3], (6.0, 5.0, 7.0))
    start, size = module.roiVoxelBox(roi, input_node)
    job = logic.startProcess(input_node, model="trilinear", device="cpu", roiNode=roi, python=sys.executable)
    assert "--roi" in job.command() and ",".join(map(str, start + size)) in job.command()
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage
    assert slicer.util.arrayFromVolume(job.outputVolumeNode).shape == tuple(4 * n for n in size[::-1])
    first = (module.ijkToRASOf(input_node) @ np.array(list(start) + [1.0]))[:3]
    np.testing.assert_allclose(module.ijkToRASOf(job.outputVolumeNode)[:3, 3], first, atol=1e-5)


def test_cancel_kills_the_process_and_leaves_the_scene_as_it_was(scene, logic):
    input_node = add_oblique_volume()
    nodes_before = scene.GetNumberOfNodes()
    job = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable, warmWorker=False)
    time.sleep(0.3)
    assert job.poll() == job.RUNNING  # still importing torch
    job.cancel()
    assert job.state == job.CANCELLED and job.process.returncode is not None
    assert not os.path.exists(job.tempDir)
    assert job.poll() == job.CANCELLED and job.outputVolumeNode is None
    assert scene.GetNumberOfNodes() == nodes_before


def test_a_failing_process_reports_the_cli_error_and_leaves_the_scene_alone(scene, logic, tmp_path):
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    config = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}
    card = save_model(tmp_path / "tampered", build_network(dict(config)),
                      {"network": dict(config), "normalization": {"kind": "minmax"}})
    with open(tmp_path / "tampered.safetensors", "ab") as weights:
        weights.write(b"\0")  # the checksum no longer matches: the CLI refuses the model
    input_node = add_oblique_volume()
    nodes_before = scene.GetNumberOfNodes()

    job = logic.startProcess(input_node, model=str(card), device="cpu", python=sys.executable)

    assert job.wait(timeout=TIMEOUT) == job.FAILED
    assert "checksum" in job.errorMessage and not job.gpuOutOfMemory
    assert not os.path.exists(job.tempDir)
    assert scene.GetNumberOfNodes() == nodes_before


def test_gpu_out_of_memory_is_retried_smaller_then_reported(scene, logic, monkeypatch):
    input_node = add_oblique_volume()
    launched = []
    error = ('ERROR {"kind": "GPUOutOfMemoryError", "code": "gpu_out_of_memory", '
             '"message": "the GPU ran out of memory on windows of 64x64x64 input voxels"}')
    fake_cli = (f"import sys; print('PROGRESS 0.1000 super-resolving'); print({error!r}); "
                "print('sr3d predict: error: the GPU ran out of memory on windows of 64x64x64 input voxels', "
                "file=sys.stderr); sys.exit(2)")

    def fake_command(self):
        launched.append((self.settings["window"], self.settings["batch"]))
        return [sys.executable, "-c", fake_cli]

    monkeypatch.setattr(module.SuperResolutionProcess, "command", fake_command)
    job = logic.startProcess(input_node, model="trilinear", device="cuda", window=64, batch=2, python=sys.executable)
    assert job.wait(timeout=TIMEOUT) == job.FAILED
    assert launched == [(64, 2), (64, 1), (32, 1), (16, 1)]
    assert job.gpuOutOfMemory and "GPU ran out of memory" in job.errorMessage
    assert not os.path.exists(job.tempDir)


@pytest.mark.parametrize("kind, code, retried", [("GPUOutOfMemoryError", "gpu_out_of_memory", True),
                                                  ("InsufficientMemoryError", "out_of_memory", False)])
def test_the_cli_error_code_decides_whether_to_retry(scene, logic, monkeypatch, kind, code, retried):
    import json

    input_node = add_oblique_volume()
    launched = []
    message = "the GPU ran out of memory (whatever the words)"
    line = "ERROR " + json.dumps({"kind": kind, "code": code, "message": message})
    fake_cli = (f"import sys; print({line!r}, flush=True); "
                f"print('sr3d predict: error: {message}', file=sys.stderr); sys.exit(2)")

    def fake_command(self):
        launched.append((self.settings["window"], self.settings["batch"]))
        return [sys.executable, "-c", fake_cli]

    monkeypatch.setattr(module.SuperResolutionProcess, "command", fake_command)
    job = logic.startProcess(input_node, model="trilinear", device="cuda", window=32, batch=1, python=sys.executable)
    assert job.wait(timeout=TIMEOUT) == job.FAILED
    assert launched == ([(32, 1), (16, 1)] if retried else [(32, 1)])
    assert job.errorKind == kind and job.errorCode == code and job.errorMessage == message
    assert job.gpuOutOfMemory == retried
    assert not any(line.startswith("ERROR ") for line in job.log)


def test_a_thick_slice_scan_is_adapted_in_the_background_process(scene, logic, tmp_path):
    """'Adapt to this scan': the panel's checkbox, minutes and model file reach ``sr3d predict --adapt``; one
    progress bar; the adapted model is saved where asked."""
    from SuperResolution3DLib.core.errors import InputVolumeError, ModelFileError
    from SuperResolution3DLib.models.files import load_model, save_model
    from SuperResolution3DLib.networks import build_network

    network = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [1, 1, 4],
               "upsampler": "pixel_shuffle", "global_skip": "trilinear"}
    model = str(save_model(tmp_path / "tiny_thick", build_network(dict(network)),
                           {"network": network, "normalization": {"kind": "minmax"}}))
    array = np.random.default_rng(0).random((6, 24, 24)).astype(np.float32)
    thick = slicer.util.addVolumeFromArray(array, np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    assert logic.canAdapt(thick, model) and not logic.canAdapt(thick, "trilinear")
    assert logic.inputDescription(thick, model, adapt=True, adaptMinutes=0.5).startswith(
        "adapt the model to this scan for 0.5 min, then axial slices along z are 4 mm apart")
    assert logic.inputDescription(thick, model, adapt=True, adaptMinutes=2, adaptSliceProfile="sinc").startswith(
        "adapt the model to this scan on sinc slices for 2 min, then axial slices along z")
    with pytest.raises(InputVolumeError, match="Adapt to this scan"):
        logic.startProcess(add_oblique_volume(), model="trilinear", device="cpu", adapt=True, python=sys.executable)

    volumes = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    for profile, thickness, message in (("boxcar", None, "slice profile 'boxcar' is not one of auto, mixed, estimate"),
                                        ("rect", 5.0, "between 0.2 and 3")):
        with pytest.raises(InputVolumeError, match=message):
            logic.startProcess(thick, model=model, device="cpu", adapt=True, adaptSliceProfile=profile,
                               adaptSliceThickness=thickness, python=sys.executable)
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == volumes  # nothing added

    with pytest.raises(ModelFileError, match="a .json file"):  # checked before anything starts
        logic.startProcess(thick, model=model, device="cpu", adapt=True, saveAdaptedModel=str(tmp_path / "m.txt"),
                           python=sys.executable)
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == volumes

    reports, saved = [], tmp_path / "adapted" / "mine.json"
    saved.parent.mkdir()
    job = logic.startProcess(thick, model=model, device="cpu", adapt=True, adaptMinutes=0.01, python=sys.executable,
                             adaptSliceProfile="gaussian", adaptSliceThickness=1.2, saveAdaptedModel=str(saved),
                             progress=lambda fraction, message: reports.append((fraction, message)))
    command = job.command()
    assert command[command.index("--adapt") + 1:command.index("--adapt") + 9] == [
        "--adapt-minutes", "0.01", "--slice-profile", "gaussian", "--slice-thickness", "1.2",
        "--save-adapted", str(saved.resolve())]
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    card = load_model(saved).card  # the model file with its card, for other scans
    assert card["adaptation"]["slice_profile"] == "gaussian" and card["adaptation"]["adapted_to"]["input"] == "Thick.nrrd"
    kept_text = "; adapted model saved to " if card["adaptation"]["kept"] else "; model saved to "
    assert process.savedModelText(job).startswith(kept_text + str(saved.resolve()))  # the panel's status line
    assert slicer.util.arrayFromVolume(job.outputVolumeNode).shape == (24, 24, 24)
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("adapting") and f <= 0.5 for f, m in reports)
    assert any(f > 0.5 and not m.startswith("adapting") for f, m in reports)
    assert any("gaussian" in line and "adapted to the scan" in line for line in job.log), job.log


def test_an_output_slice_spacing_reaches_the_process_and_is_checked_first(scene, logic, tmp_path):
    from SuperResolution3DLib.core.errors import InputVolumeError
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    network = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [1, 1, 4],
               "upsampler": "pixel_shuffle", "global_skip": "trilinear"}
    model = str(save_model(tmp_path / "tiny_thick", build_network(dict(network)),
                           {"network": network, "normalization": {"kind": "minmax"}}))
    thick = slicer.util.addVolumeFromArray(np.random.default_rng(0).random((6, 10, 12)).astype(np.float32),
                                           np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    assert logic.defaultParameters()["OutputSliceSpacing"] == "0.0"  # the panel's "in-plane"
    assert logic.inputDescription(thick, model, outputSliceSpacing=2.0).endswith("output 2 mm along z, the other axes as they are (model tiny_thick)")
    volumes = lambda: scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")  # noqa: E731
    nodes = volumes()
    for node, asked, message in ((thick, 4.0, "below the input's 4 mm"), (add_oblique_volume(), 1.0, "leave it out")):
        with pytest.raises(InputVolumeError, match=message):
            logic.startProcess(node, model=model if node is thick else "trilinear", device="cpu", python=sys.executable,
                               outputSliceSpacing=asked)
    assert volumes() == nodes + 1  # only the second input; no output node
    job = logic.startProcess(thick, model=model, device="cpu", python=sys.executable, outputSliceSpacing=2.0)
    assert job.command()[-2:] == ["--output-slice-spacing", "2.0"]
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    assert slicer.util.arrayFromVolume(job.outputVolumeNode).shape == (12, 10, 12)  # floor(23 / 2) + 1 slices
    np.testing.assert_allclose(job.outputVolumeNode.GetSpacing(), (1.0, 1.0, 2.0))


def test_a_volume_from_a_file_with_sr3d_degrades_note_gets_an_output_that_gives_back_its_slices(scene, logic, tmp_path):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.acquisition import slice_profile_note
    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    network = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [1, 1, 4],
               "upsampler": "pixel_shuffle", "global_skip": "trilinear"}
    model = str(save_model(tmp_path / "tiny_thick", build_network(dict(network)),
                           {"network": network, "normalization": {"kind": "minmax"}}))
    array = np.random.default_rng(0).random((6, 10, 12)).astype(np.float32)
    path = write_volume(Volume(array, (1.0, 1.0, 4.0)), tmp_path / "lr.nrrd", notes=slice_profile_note("gaussian", 5.0))
    thick = slicer.util.addVolumeFromArray(array, np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")  # as if loaded from the file
    storage.SetFileName(str(path))
    thick.SetAndObserveStorageNodeID(storage.GetID())
    job = logic.startProcess(thick, model=model, device="cpu", python=sys.executable)
    command = job.command()
    assert command[command.index("--slice-profile"):][:4] == ["--slice-profile", "gaussian", "--slice-thickness", "1.25"]
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    assert any("output made to give back the slices: gaussian slices 1.25 slice spacings thick" in line
               for line in job.log), job.log
    plain = logic.startProcess(slicer.util.addVolumeFromArray(array, np.diag([-1.0, -1.0, 4.0, 1.0])), model=model,
                               device="cpu", python=sys.executable)
    assert "--slice-profile" not in plain.command()  # no file behind it, nothing known
    plain.cancel()


@pytest.mark.filterwarnings("ignore:stack 2 agrees poorly")  # white noise keeps little once smoothed
def test_stacks_are_fused_in_the_background_with_their_transforms_applied(scene, logic, tmp_path):
    """A registration in Slicer leaves a stack under a transform: the fusion sees it where the transform puts it."""
    import vtk

    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
    from SuperResolution3DLib.inference.stacks import fuse_stacks

    texture = np.random.default_rng(0).random((32, 32, 32)).astype(np.float32)
    hr = Volume(texture, (1.0, 1.0, 1.0), (-16.0, -16.0, -16.0))  # LPS
    axial, sagittal = (thick_slice_degrade(hr, axis, 4, "rect", 4.0) for axis in (2, 0))
    expected = fuse_stacks([axial, sagittal], "bspline").array

    def add(volume, name, shift=0.0):  # LPS -> RAS: x and y flip
        ijkToRAS = np.diag([-volume.spacing[0], -volume.spacing[1], volume.spacing[2], 1.0])
        ijkToRAS[:3, 3] = [-volume.origin[0] + shift, -volume.origin[1], volume.origin[2]]
        return slicer.util.addVolumeFromArray(volume.array, ijkToRAS, name=name)

    moved = add(sagittal, "Sagittal", shift=25.0)  # 25 mm off in R, as a registration would find it
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, -25.0)
    transform.SetMatrixTransformToParent(matrix)
    moved.SetAndObserveTransformNodeID(transform.GetID())
    first = add(axial, "Axial")
    reports = []
    job = logic.startFusion([first, moved], model="bspline", device="cpu", python=sys.executable,
                            progress=lambda fraction, message: reports.append(fraction))
    assert job.command()[3] == "fuse"
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    fused = job.outputVolumeNode
    assert fused.GetName().startswith("Axial_fused") and fused.GetTransformNodeID() is None
    np.testing.assert_allclose(slicer.util.arrayFromVolume(fused), expected, atol=1e-3)
    assert reports == sorted(reports) and reports[-1] == 1.0
    with pytest.raises(ValueError, match="at least two stacks"):
        logic.startFusion([first], model="bspline", device="cpu", python=sys.executable)
    registering = logic.startFusion([first, moved], model="bspline", device="cpu", python=sys.executable, register=True)
    assert registering.command()[-1] == "--register" and "--fov" in registering.command()
    assert registering.wait(timeout=TIMEOUT) == registering.COMPLETED, registering.errorMessage
    assert any("stack 2 registered to stack 1" in line for line in registering.log), registering.log
    short = add(axial.sub_volume((0, 0, 0), (32, 32, 4)), "ShortAxial")  # half of the field of view along z
    union = logic.startFusion([short, moved], model="bspline", device="cpu", python=sys.executable, fieldOfView="union")
    assert union.wait(timeout=TIMEOUT) == union.COMPLETED, union.errorMessage
    assert slicer.util.arrayFromVolume(union.outputVolumeNode).shape == (32, 32, 32)  # the sagittal stack's 32 mm


def test_the_warm_worker_is_reused_across_runs_and_a_cancel_replaces_it(scene, logic):
    """Apply after Apply runs in one worker process (torch imported once); cancelling kills it, the next run starts
    a fresh one; the figures printed here are the README's warm-worker timing."""
    input_node = add_oblique_volume()
    timings, pids = [], []
    for _ in range(2):
        job = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable)
        assert job.worker is not None
        pids.append(job.worker.process.pid)
        assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
        timings.append(job.elapsed)
    assert pids[0] == pids[1]
    worker = process._workers[sys.executable]
    assert worker.alive and not worker.busy and worker.runs >= 2
    print(f"warm worker: first run {timings[0]:.2f} s, second run {timings[1]:.2f} s")

    big = slicer.util.addVolumeFromArray(np.random.default_rng(0).random((32, 32, 32)).astype(np.float32), name="Big")
    slow = logic.startProcess(big, model="default", device="cpu", python=sys.executable, precision="fp32")
    time.sleep(1.0)
    assert slow.poll() == slow.RUNNING and slow.worker is worker
    busy_meanwhile = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable)
    assert busy_meanwhile.worker is None  # the worker is busy: a process of its own
    assert busy_meanwhile.wait(timeout=TIMEOUT) == busy_meanwhile.COMPLETED
    slow.cancel()
    assert slow.state == slow.CANCELLED and not worker.alive and sys.executable not in process._workers
    after = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable)
    assert after.worker is not None and after.worker.process.pid != pids[0]
    assert after.wait(timeout=TIMEOUT) == after.COMPLETED


def test_packages_are_installed_in_a_background_process_with_progress(scene):
    """One question (asked by the panel), then the install commands run one after another off the GUI thread."""
    from SuperResolution3DHelpers import installer

    commands = installer.installCommands(["torch>=2.1", "monai>=1.3", "numpy>=1.23"], "py", haveLightTheTorch=False)
    assert [argv[1:4] for _, argv in commands] == [["-m", "pip", "install"], ["-m", "light_the_torch", "install"],
                                                   ["-m", "pip", "install"]]
    assert commands[1][1][4:] == ["torch>=2.1", "torchvision"] and commands[2][1][4:] == ["monai>=1.3", "numpy>=1.23"]
    assert [c[0] for c in installer.installCommands(["numpy"], "py")] == ["installing numpy"]

    def fake(lines, code=0):
        script = "; ".join(f"print({line!r}, flush=True)" for line in lines) + f"; raise SystemExit({code})"
        return [sys.executable, "-c", script]

    reports = []
    job = installer.PackageInstallation(["a", "b"], python=sys.executable, progress=lambda f, m: reports.append((f, m)),
                                        commands=[("installing a", fake(["Collecting a", "Installed a"])),
                                                  ("installing b", fake(["Collecting b"]))]).start()
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED and job.step == 2
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and any("installing a: Collecting a" == m for _, m in reports)
    assert any(m.startswith("installing b") and f >= 0.5 for f, m in reports)

    failing = installer.PackageInstallation(["a"], python=sys.executable,
                                            commands=[("installing a", fake(["ERROR: no matching distribution"], 1)),
                                                      ("never", fake([]))]).start()
    assert failing.wait(timeout=TIMEOUT) == failing.FAILED and failing.step == 0
    assert "installing a failed (exit code 1): ERROR: no matching distribution" == failing.errorMessage

    slow = installer.PackageInstallation(["a"], python=sys.executable,
                                         commands=[("installing a", [sys.executable, "-c", "import time; time.sleep(60)"])]).start()
    slow.cancel()
    assert slow.state == slow.CANCELLED and slow.process.poll() is not None


def test_each_run_in_the_warm_worker_reports_the_kept_ct_padding_in_the_status(scene, logic):
    """A CT with padding outside its field of view: the output keeps the padding, and the panel's status line says so
    after every run, also the second one in the same worker (warnings are not shown once per process)."""
    array = np.full((6, 16, 16), 40.0, np.float32)
    array[:, :3, :3] = -3024.0  # 3.5% of the voxels
    ct = slicer.util.addVolumeFromArray(array, name="PaddedCT")
    pids = []
    for _ in range(2):
        job = logic.startProcess(ct, model="trilinear", device="cpu", python=sys.executable)
        pids.append(job.worker.process.pid)
        assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
        assert "\nNote: 3.5% of the input's voxels are below -1500" in process.warningsText(job), job.log
        output = slicer.util.arrayFromVolume(job.outputVolumeNode)
        assert output[0, 0, 0] == -3024.0 and output[0, 40, 40] == pytest.approx(40.0)
    assert pids[0] == pids[1]
    plain = logic.startProcess(add_oblique_volume(), model="trilinear", device="cpu", python=sys.executable)
    assert plain.wait(timeout=TIMEOUT) == plain.COMPLETED and process.warningsText(plain) == ""


class _Stand:
    """A stand-in for one .ui widget: plain attributes, and the few calls the panel makes."""

    def __init__(self, **attributes):
        self.__dict__.update(dict(enabled=True, text="", toolTip="", checked=False, value=0), **attributes)

    def currentNode(self):
        return self.node

    def checkedNodes(self):
        return list(self.nodes)

    def setVisible(self, visible):
        self.visible = visible


def test_the_panels_fuse_button_fuses_the_input_with_the_ticked_stacks(scene, logic, monkeypatch):
    """The Widget's own Fuse path (Qt widgets stood in for): which stacks, which model, the result node."""
    from SuperResolution3DHelpers.panel import SuperResolutionPanel

    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

    hr = Volume(np.random.default_rng(1).random((24, 24, 24)).astype(np.float32), (1.0, 1.0, 1.0))
    axial, coronal = (slicer.util.addVolumeFromArray(thick_slice_degrade(hr, axis, 4, "rect", 4.0).array,
                                                     np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.diag(spacing + (1.0,)),
                                                     name=name)
                      for axis, spacing, name in ((2, (1.0, 1.0, 4.0), "Ax"), (1, (1.0, 4.0, 1.0), "Cor")))
    panel = SuperResolutionPanel.__new__(SuperResolutionPanel)
    panel._job, panel._lastStart = None, None
    panel.logic = logic
    panel.ui = type("UI", (), {})()
    for name in ("fuseButton", "progressBar", "statusLabel", "registerStacksCheckBox", "unionFieldOfViewCheckBox"):
        setattr(panel.ui, name, _Stand())
    panel.ui.inputSelector = _Stand(node=axial)
    panel.ui.stacksSelector = _Stand(nodes=[axial])
    panel.ui.modelSelector = _Stand(currentData="sr3d_rrdb_x4_real_l1")  # isotropic: the fusion takes the default
    panel.ui.precisionSelector = _Stand(currentData="fp32")
    panel.updateFuseButton()
    assert not panel.ui.fuseButton.enabled and "Tick at least one other stack" in panel.ui.fuseButton.toolTip
    panel.ui.stacksSelector.nodes = [axial, coronal]
    panel.updateFuseButton()
    assert panel.ui.fuseButton.enabled and "Fuse 2 stacks" in panel.ui.fuseButton.toolTip

    started = []
    monkeypatch.setattr(panel, "onJobStarted", lambda: started.append(panel._job))
    original = logic.startFusion
    monkeypatch.setattr(logic, "startFusion", lambda stacks, **options: started.append(options) or original(
        stacks, python=sys.executable, **dict(options, model="bspline")))  # bspline: seconds, not a network
    panel.startFusion("cpu")
    options, job = started
    assert options["model"] == "default" and options["device"] == "cpu" and options["register"] is False
    assert options["fieldOfView"] == "first" and job.command()[-2:] == ["--fov", "first"]
    assert [node.GetName() for node in job.stackNodes] == ["Ax", "Cor"]
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    assert job.outputVolumeNode.GetName().startswith("Ax_fused")
    assert slicer.util.arrayFromVolume(job.outputVolumeNode).shape == (24, 24, 24)


def test_a_model_is_fine_tuned_on_volume_nodes_in_the_background_and_then_used(scene, logic, tmp_path):
    """The Logic's fine-tune: training and held-out nodes written for ``sr3d finetune``, progress, a model file that
    ``process`` then takes; the scene keeps its nodes. Bad requests are refused before anything starts."""
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks.registry import build_network
    from test_adaptation import TINY_THICK, isotropic_texture

    start = save_model(tmp_path / "start.json", build_network(dict(TINY_THICK)).eval(),
                       {"name": "start", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"},
                        "training_settings": {"hr_patch_size": 16}})
    train = [slicer.util.addVolumeFromArray(isotropic_texture((24, 24, 24), seed=seed), name=f"HR{seed}")
             for seed in range(2)]
    held_out = slicer.util.addVolumeFromArray(isotropic_texture((24, 24, 24), seed=5), name="HeldOut")
    nodes_before = scene.GetNumberOfNodes()
    reports = []
    job = logic.startFineTune(train, tmp_path / "mine.json", model=str(start), validationNodes=[held_out], minutes=5,
                              device="cpu", python=sys.executable, steps=3,
                              progress=lambda fraction, message: reports.append((fraction, message)))
    assert job.command()[3] == "finetune" and "--validation" in job.command()
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    assert job.modelPath == str(tmp_path / "mine.json") and (tmp_path / "mine.safetensors").is_file()
    assert scene.GetNumberOfNodes() == nodes_before and not os.path.exists(job.tempDir)
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("fine-tuning: step 2" in message for _, message in reports)
    assert any("validation patches after 3 steps" in line for line in job.log), job.log
    thick = slicer.util.addVolumeFromArray(isotropic_texture((6, 16, 16), seed=7), np.diag([-1.0, -1.0, 4.0, 1.0]),
                                           name="Thick")
    output = logic.process(thick, model=job.modelPath, device="cpu")
    assert slicer.util.arrayFromVolume(output).shape == (24, 16, 16)

    with pytest.raises(ValueError, match="at least one high-resolution training volume"):
        logic.startFineTune([], tmp_path / "x.json", model=str(start), python=sys.executable)
    with pytest.raises(ValueError, match="both a training and a validation volume"):
        logic.startFineTune(train, tmp_path / "x.json", model=str(start), validationNodes=[train[0]], python=sys.executable)
    with pytest.raises(ValueError, match="a .json file"):
        logic.startFineTune(train, tmp_path / "x.txt", model=str(start), python=sys.executable)
    with pytest.raises(ValueError, match="positive minutes"):
        logic.startFineTune(train, tmp_path / "x.json", model=str(start), minutes=0, python=sys.executable)
    long = logic.startFineTune(train, tmp_path / "x.json", model=str(start), minutes=5, device="cpu", python=sys.executable)
    deadline = time.time() + TIMEOUT
    while long.poll() == long.RUNNING and not any("training volumes" in line for line in long.log) and time.time() < deadline:
        time.sleep(0.05)
    long.cancel()
    assert long.state == long.CANCELLED and long.modelPath is None and not os.path.exists(long.tempDir)
    assert not (tmp_path / "x.json").exists()


def test_the_panels_finetune_button_trains_on_the_ticked_volumes_and_selects_the_model(scene, logic, tmp_path,
                                                                                        monkeypatch):
    """The Widget's own Fine-tune path (Qt widgets stood in for): readiness, the job, the status line, the model list."""
    from SuperResolution3DHelpers.panel import SuperResolutionPanel

    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks.registry import build_network
    from test_adaptation import TINY_THICK, isotropic_texture

    start = save_model(tmp_path / "start.json", build_network(dict(TINY_THICK)).eval(),
                       {"name": "start", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"},
                        "training_settings": {"hr_patch_size": 16}})
    hr, held = (slicer.util.addVolumeFromArray(isotropic_texture((24, 24, 24), seed=seed), name=name)
                for seed, name in ((0, "HR"), (1, "Held")))
    panel = SuperResolutionPanel.__new__(SuperResolutionPanel)
    panel._job, panel._lastStart = None, None
    panel.logic = logic
    panel.ui = type("UI", (), {})()
    for name in ("finetuneButton", "progressBar", "statusLabel"):
        setattr(panel.ui, name, _Stand())
    panel.ui.finetuneScansSelector, panel.ui.finetuneValidationSelector = _Stand(nodes=[]), _Stand(nodes=[held])
    panel.ui.finetuneSavePathLineEdit = _Stand(text=str(tmp_path / "mine.json"))
    panel.ui.finetuneMinutesSpinBox = _Stand(value=5.0)
    panel.ui.modelSelector = _Stand(currentData="bspline")
    panel.updateFinetuneButton()
    assert not panel.ui.finetuneButton.enabled and "Tick the high-resolution volumes" in panel.ui.finetuneButton.toolTip
    panel.ui.finetuneScansSelector.nodes = [hr]
    panel.updateFinetuneButton()
    assert not panel.ui.finetuneButton.enabled and "no weights to fine-tune" in panel.ui.finetuneButton.toolTip
    panel.ui.modelSelector.currentData = str(start)
    panel.updateFinetuneButton()
    assert panel.ui.finetuneButton.enabled and "Fine-tune start.json on 1 volume(s)" in panel.ui.finetuneButton.toolTip

    started = []
    monkeypatch.setattr(panel, "onJobStarted", lambda: started.append(panel._job))
    original = logic.startFineTune
    monkeypatch.setattr(logic, "startFineTune", lambda nodes, path, **options: original(
        nodes, path, python=sys.executable, steps=2, **options))
    panel.startFinetune("cpu")
    (job,) = started
    assert [node.GetName() for node in job.trainNodes] == ["HR"] and job.settings["minutes"] == 5.0
    assert job.wait(timeout=TIMEOUT) == job.COMPLETED, job.errorMessage + "\n" + "\n".join(job.log)
    selected = []
    monkeypatch.setattr(panel, "selectModel", selected.append)
    monkeypatch.setattr(panel, "onJobFinished", lambda: None)
    panel._pollTimer = _Stand()
    panel._job = job
    panel.onPollTimer()
    assert selected == [str(tmp_path / "mine.json")] and panel.ui.finetuneSavePathLineEdit.text == ""
    assert panel.ui.statusLabel.text.startswith("Fine-tuned in ") and "validation patches after 2 steps" in panel.ui.statusLabel.text
