"""The Slicer module's Logic on a real MRML scene (``slicer-core``): geometry, ROI, bad input, parameters.

Runs on the CPU with the trilinear baseline or a tiny network on volumes of about 10 voxels per axis.
Skipped when ``slicer-core`` is not installed (``pip install slicer-core``).
"""

import sys
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
REPOSITORY_ROOT = HERE.parents[1]
for folder in (HERE, REPOSITORY_ROOT / "SuperResolution3D"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import slicer_shim  # noqa: E402

slicer_shim.install()
import SuperResolution3D as module  # noqa: E402
from SuperResolution3DHelpers import acquisition, geometry, process  # noqa: E402

from SuperResolution3DLib.core.errors import InputVolumeError, MissingDependencyError, ModelFileError  # noqa: E402

TINY_RRDB = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}
LANDMARK_IJK = (6, 4, 3)


@pytest.fixture
def scene():
    """A fresh real MRML scene, installed as ``slicer.mrmlScene``."""
    fresh = slicer.vtkMRMLScene()
    slicer.mrmlScene = fresh
    yield fresh
    fresh.Clear(1)


@pytest.fixture
def logic(scene):
    return module.SuperResolution3DLogic()


def oblique_ijk_to_ras(spacing=(1.5, 0.8, 3.0), origin=(12.0, -30.0, 7.5)):
    """IJKToRAS with directions rotated about two axes (oblique), anisotropic spacing and a non-zero origin."""
    a, b = np.deg2rad(30), np.deg2rad(20)
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    matrix = np.eye(4)
    matrix[:3, :3] = about_x @ about_z @ np.diag(spacing)
    matrix[:3, 3] = origin
    return matrix


def add_oblique_volume(name="Input", shape=(8, 9, 10), spacing=(1.5, 0.8, 1.2)):
    """A float volume ``[k, j, i]`` with a bright landmark voxel at ``LANDMARK_IJK`` on a random background; its
    spacing is anisotropic but has no thick-slice axis (no axis twice as coarse as the others), so every model and
    baseline works on all three axes."""
    array = np.random.default_rng(1).uniform(0, 10, size=shape).astype(np.float32)
    i, j, k = LANDMARK_IJK
    array[k, j, i] = 1000.0
    return slicer.util.addVolumeFromArray(array, oblique_ijk_to_ras(spacing), name=name)


def landmark_distance(input_node, output_node):
    """RAS distance between the input landmark and the brightest output voxel."""
    expected = module.ijkToRASOf(input_node) @ np.array(list(LANDMARK_IJK) + [1.0])
    output = slicer.util.arrayFromVolume(output_node)
    k, j, i = np.unravel_index(int(np.argmax(output)), output.shape)
    found = module.ijkToRASOf(output_node) @ np.array([i, j, k, 1.0])
    return float(np.linalg.norm(found[:3] - expected[:3]))


def directions(node):
    matrix = module.ijkToRASOf(node)[:3, :3]
    return matrix / np.linalg.norm(matrix, axis=0)


# Geometry -------------------------------------------------------------------------------------------
def test_lps_geometry_matches_the_file_written_by_a_mrml_storage_node(scene, tmp_path):
    from SuperResolution3DLib.data.io import read_volume

    node = add_oblique_volume()
    spacing, origin, direction = geometry.lpsGeometryFromNode(node)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(tmp_path / "node.nrrd"))
    assert storage.WriteData(node)
    from_file = read_volume(tmp_path / "node.nrrd")
    np.testing.assert_allclose(from_file.spacing, spacing, atol=1e-6)
    np.testing.assert_allclose(from_file.origin, origin, atol=1e-6)
    np.testing.assert_allclose(from_file.direction, direction, atol=1e-6)
    np.testing.assert_allclose(geometry.ijkToRASFromLPSGeometry(spacing, origin, direction), module.ijkToRASOf(node),
                               atol=1e-9)


def test_oblique_anisotropic_volume_is_super_resolved_in_place(scene, logic):
    input_node = add_oblique_volume()
    voxels_before = slicer.util.arrayFromVolume(input_node).copy()
    matrix_before = module.ijkToRASOf(input_node)
    nodes_before = scene.GetNumberOfNodes()
    reports = []

    output_node = logic.process(input_node, model="trilinear", device="cpu",
                                progress=lambda fraction, message: reports.append(fraction))

    assert output_node.GetScene() is scene and output_node.GetName() == "Input_SR4x"
    assert slicer.util.arrayFromVolume(output_node).shape == (32, 36, 40)  # 4x the voxels per axis
    np.testing.assert_allclose(np.array(output_node.GetSpacing()) * 4, input_node.GetSpacing(), rtol=1e-9)
    np.testing.assert_allclose(directions(output_node), directions(input_node), atol=1e-9)
    np.testing.assert_allclose(output_node.GetOrigin(), input_node.GetOrigin(), atol=1e-9)
    assert landmark_distance(input_node, output_node) < 1e-6
    output = slicer.util.arrayFromVolume(output_node)
    assert output.dtype == np.float32 and 0 <= output.min() and output.max() == pytest.approx(1000.0)  # input units
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(input_node), voxels_before)  # input untouched
    np.testing.assert_array_equal(module.ijkToRASOf(input_node), matrix_before)
    assert reports and reports[-1] == pytest.approx(1.0)
    assert scene.GetNumberOfNodes() == nodes_before + 2  # the output volume and its display node


def test_output_follows_the_input_parent_transform_and_reuses_a_given_node(scene, logic):
    input_node = add_oblique_volume()
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = np.eye(4)
    shift[:3, 3] = (5.0, -2.0, 1.0)
    transform.SetMatrixTransformToParent(module.vtkMatrixFromArray(shift))
    input_node.SetAndObserveTransformNodeID(transform.GetID())
    existing = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Existing")
    nodes_before = scene.GetNumberOfNodes()

    output_node = logic.process(input_node, existing, model="trilinear", device="cpu")

    assert output_node is existing and output_node.GetTransformNodeID() == transform.GetID()
    assert scene.GetNumberOfNodes() == nodes_before + 1  # only the display node of the existing volume
    assert landmark_distance(input_node, output_node) < 1e-6


def test_a_model_file_chosen_by_the_user_is_used(scene, logic, tmp_path):
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    card = save_model(tmp_path / "tiny", build_network(dict(TINY_RRDB)),
                      {"network": dict(TINY_RRDB), "normalization": {"kind": "percentile", "lower": 0.5, "upper": 99.5},
                       "training_data": "synthetic test volumes", "metrics": {"psnr": 30.5}})
    reference, read_card = logic.resolveModel(str(card))
    assert reference == str(card) and read_card["name"] == "tiny"
    text = logic.modelCardText(read_card)
    assert "Scale (x, y, z): 4 x 4 x 4" in text and "synthetic test volumes" in text and "psnr: 30.5" in text

    input_node = add_oblique_volume()
    output_node = logic.process(input_node, model=str(tmp_path / "tiny.safetensors"), device="cpu", window=8)
    assert slicer.util.arrayFromVolume(output_node).shape == (32, 36, 40)
    assert np.isfinite(slicer.util.arrayFromVolume(output_node)).all()


# Region of interest ---------------------------------------------------------------------------------
def add_roi(center, size):
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "ROI")
    roi.SetCenter(*center)
    roi.SetSize(*size)
    return roi


def test_roi_run_covers_only_the_roi(scene, logic):
    input_node = add_oblique_volume()
    full = slicer.util.arrayFromVolume(logic.process(input_node, model="trilinear", device="cpu")).copy()
    center = module.ijkToRASOf(input_node) @ np.array([5.0, 4.0, 3.5, 1.0])
    roi = add_roi(center[:3], (6.0, 5.0, 7.0))
    start, size = module.roiVoxelBox(roi, input_node)

    output_node = logic.process(input_node, model="trilinear", device="cpu", roiNode=roi)
    output = slicer.util.arrayFromVolume(output_node)

    assert output.shape == tuple(4 * n for n in size[::-1])
    x, y, z = (4 * s for s in start)
    np.testing.assert_allclose(output, full[z:z + output.shape[0], y:y + output.shape[1], x:x + output.shape[2]],
                               rtol=1e-5, atol=1e-3)  # the same voxels as the full run, nothing else
    # The box is the input voxels inside the ROI's bounding box in the input's IJK (roiVoxelRange): the output
    # spans no more than that, plus the last input voxel's 3/4 voxel of super-resolved neighbours.
    to_input_ijk = np.linalg.inv(module.ijkToRASOf(input_node))
    roi_ijk = (to_input_ijk @ np.c_[geometry.roiCornersRAS(roi), np.ones(8)].T)[:3].T
    ijk = np.array([[i, j, k, 1.0] for i in (0, output.shape[2] - 1) for j in (0, output.shape[1] - 1)
                    for k in (0, output.shape[0] - 1)])
    corners = (to_input_ijk @ module.ijkToRASOf(output_node) @ ijk.T)[:3].T
    assert np.all(corners >= roi_ijk.min(axis=0) - 1e-6) and np.all(corners <= roi_ijk.max(axis=0) + 0.75 + 1e-6)
    first = (module.ijkToRASOf(input_node) @ np.array(list(start) + [1.0]))[:3]
    np.testing.assert_allclose(module.ijkToRASOf(output_node)[:3, 3], first, atol=1e-9)  # origin: ROI corner voxel


def test_roi_voxel_box_of_an_axis_aligned_volume():
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    node = slicer.util.addVolumeFromArray(np.zeros((10, 10, 10), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    roi = add_roi((5.0, 7.0, 9.0), (4.0, 6.0, 40.0))  # x 3..7, y 4..10, z -11..29 mm
    assert module.roiVoxelBox(roi, node) == ((2, 2, 0), (2, 4, 10))


# Bad input ------------------------------------------------------------------------------------------
def bad_case(kind, logic, tmp_path):
    """``(arguments for logic.process, words expected in the error)`` for one kind of bad input."""
    if kind == "no input":
        return dict(inputVolumeNode=None), "no input volume"
    if kind == "2D image":
        node = slicer.util.addVolumeFromArray(np.random.rand(1, 9, 10).astype(np.float32), name="Slice")
        return dict(inputVolumeNode=node), "2D"
    if kind == "vector volume":
        node = slicer.util.addVolumeFromArray(np.random.rand(8, 9, 10, 3).astype(np.float32), name="RGB",
                                              nodeClassName="vtkMRMLVectorVolumeNode")
        return dict(inputVolumeNode=node), "vector"
    if kind == "label map":
        node = slicer.util.addVolumeFromArray(np.ones((8, 9, 10), np.int16), name="Labels",
                                              nodeClassName="vtkMRMLLabelMapVolumeNode")
        return dict(inputVolumeNode=node), "label map"
    if kind == "missing model file":
        return dict(inputVolumeNode=add_oblique_volume(), model=str(tmp_path / "nowhere.json")), "not found"
    if kind == "model without weights":
        (tmp_path / "lonely.json").write_text(
            '{"format": "sr3d-model", "format_version": 1, "network": {"name": "RRDBNet3D"}, '
            '"normalization": {"kind": "minmax"}, "weights_file": "lonely.safetensors", "weights_sha256": "0"}'
        )
        return dict(inputVolumeNode=add_oblique_volume(), model=str(tmp_path / "lonely.json")), "weights"
    if kind == "output is the input":
        node = add_oblique_volume()
        return dict(inputVolumeNode=node, outputVolumeNode=node), "output volume is the input"
    if kind == "roi outside the volume":
        return dict(inputVolumeNode=add_oblique_volume(), roiNode=add_roi((500.0, 500.0, 500.0), (5, 5, 5))), \
            "region of interest"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["no input", "2D image", "vector volume", "label map", "missing model file",
                                  "model without weights", "output is the input", "roi outside the volume"])
def test_bad_input_gives_a_clear_error_and_leaves_the_scene_alone(scene, logic, tmp_path, kind):
    arguments, words = bad_case(kind, logic, tmp_path)
    nodes_before = scene.GetNumberOfNodes()
    with pytest.raises((InputVolumeError, ModelFileError)) as error:
        logic.process(**dict(dict(model="trilinear", device="cpu"), **arguments))
    assert words in str(error.value)
    assert isinstance(error.value, ValueError)
    assert scene.GetNumberOfNodes() == nodes_before


def test_library_errors_leave_the_scene_alone(scene, logic):
    constant = slicer.util.addVolumeFromArray(np.full((8, 9, 10), 3.0, np.float32), name="Constant")
    nodes_before = scene.GetNumberOfNodes()
    with pytest.raises(InputVolumeError, match="constant"):
        logic.process(constant, model="trilinear", device="cpu")
    assert scene.GetNumberOfNodes() == nodes_before


# Parameters, models, dependencies ---------------------------------------------------------------------
def test_parameters_live_in_the_parameter_node_and_are_saved_with_the_scene(scene, logic):
    node = logic.getParameterNode()
    logic.setDefaultParameters(node)
    assert node.GetParameter("Model") == "default" and node.GetParameter("Window") == "0"  # 0: auto
    node.SetParameter("Device", "cpu")
    logic.setDefaultParameters(node)  # keeps what the user chose
    assert node.GetParameter("Device") == "cpu"
    assert logic.getParameterNode() is node
    input_node = add_oblique_volume()
    node.SetNodeReferenceID("InputVolume", input_node.GetID())
    scene.SetSaveToXMLString(1)
    scene.Commit()

    reloaded = slicer.vtkMRMLScene()
    reloaded.SetLoadFromXMLString(1)
    reloaded.SetSceneXMLString(scene.GetSceneXMLString())
    reloaded.Import()
    restored = reloaded.GetSingletonNode("SuperResolution3D", "vtkMRMLScriptedModuleNode")
    assert restored is not None and restored.GetParameter("Device") == "cpu"
    assert restored.GetParameter("Overlap") == "0.125"
    assert restored.GetNodeReferenceID("InputVolume") == input_node.GetID()


def test_bundled_models_are_listed_from_their_cards_without_torch(monkeypatch, tmp_path):
    (tmp_path / "good.json").write_text('{"format": "sr3d-model", "scale": [4, 4, 4]}')
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setenv("SR3D_MODELS_DIR", str(tmp_path))
    assert module.listBundledModels() == ["good"]
    assert module.modelsDir() == str(tmp_path)


def test_missing_packages_are_never_installed_silently(monkeypatch):
    logic = module.SuperResolution3DLogic()
    assert logic.missingDependencies() == []  # this environment has everything
    monkeypatch.setattr(module.SuperResolution3DLogic, "requirements",
                        staticmethod(lambda: ["numpy>=1.0", "surely-not-installed-sr3d>=1"]))
    installs = []
    monkeypatch.setattr(module.SuperResolution3DLogic, "installDependencies", lambda self, r: installs.append(r))
    assert logic.missingDependencies() == ["surely-not-installed-sr3d>=1"]
    assert "surely-not-installed-sr3d>=1" in logic.dependencyConfirmationText(logic.missingDependencies())
    with pytest.raises(MissingDependencyError, match="surely-not-installed-sr3d"):
        logic.ensureDependencies()  # no Slicer application: no dialog can be shown, so nothing is installed
    assert installs == []


def test_gpu_out_of_memory_retry_plan():
    smaller = process.smallerSettings
    assert smaller(64, 4) == (64, 1)
    assert smaller(64, 1) == (32, 1)
    assert smaller(20, 1) == (16, 1)
    assert smaller(16, 1) is None
    assert smaller(0, 1) == (32, 1)  # auto is 64 on a GPU


def test_the_auto_window_goes_to_the_library_as_auto(tmp_path):
    from SuperResolution3D import inferenceDefaults

    assert inferenceDefaults()["window"] == 0
    job = process.SuperResolutionProcess.__new__(process.SuperResolutionProcess)
    job.python, job.tempDir, job.modelReference, job.roiBox = "python", str(tmp_path), "default", None
    job.inputVolumeNode = None
    job.settings = dict(device="cpu", window=0, overlap=0.125, batch=1, precision="auto")
    command = job.command()
    assert command[command.index("--window") + 1] == "auto"
    job.settings["window"] = 48
    assert job.command()[command.index("--window") + 1] == "48"
    assert "--mirror-ensemble" not in command
    job.settings["mirror_ensemble"] = True
    assert job.command()[-1] == "--mirror-ensemble"


def test_the_mirror_ensemble_is_off_by_default_and_reaches_the_process(scene, logic):
    assert logic.defaultParameters()["MirrorEnsemble"] == "false"
    input_node = add_oblique_volume()
    for asked, expected in ((None, False), (True, True)):
        job = logic.startProcess(input_node, model="trilinear", device="cpu", python=sys.executable,
                                 mirrorEnsemble=asked, warmWorker=False)
        assert ("--mirror-ensemble" in job.command()) == expected
        assert job.wait(timeout=120) == job.COMPLETED, job.errorMessage


def test_a_failed_job_raises_the_library_error_it_reports():
    from SuperResolution3DLib.core.errors import CancelledError, GPUOutOfMemoryError, ModelFileError, SR3DError

    class Job:
        COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"

        def __init__(self, state, kind=None, message=""):
            self.state, self.errorKind, self.errorMessage = state, kind, message

    error = module.SuperResolution3DLogic.jobError(Job("failed", "ModelFileError", "checksum mismatch"))
    assert type(error) is ModelFileError and str(error) == "checksum mismatch"
    assert type(module.SuperResolution3DLogic.jobError(Job("failed", "GPUOutOfMemoryError", "x"))) is GPUOutOfMemoryError
    assert type(module.SuperResolution3DLogic.jobError(Job("failed", "os", "not a library error"))) is SR3DError
    assert type(module.SuperResolution3DLogic.jobError(Job("failed", None, "crashed"))) is SR3DError
    assert isinstance(module.SuperResolution3DLogic.jobError(Job("cancelled")), CancelledError)


def test_module_self_test_passes_on_slicer_core(scene):
    """The ScriptedLoadableModuleTest that Slicer runs (synthetic volume, no downloads)."""
    module.SuperResolution3DTest().runTest()


def test_a_thick_slice_input_gets_the_through_plane_model_and_the_panel_says_so(scene, logic):
    thick = slicer.util.addVolumeFromArray(np.ones((6, 9, 10), np.float32), np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    assert logic.chooseModel("default", thick) == "sr3d_rrdb_thick_x4_l1"
    assert logic.chooseModel(logic.defaultModelName(), thick) == "sr3d_rrdb_thick_x4_l1"
    assert logic.chooseModel("trilinear", thick) == "trilinear"
    _reference, card, _roi = logic._prepare(thick, None, "default", None)
    assert tuple(logic.modelScale(card)) == (1, 1, 4)
    assert logic.inputDescription(thick).startswith("axial slices along z are 4 mm apart, 1 mm in-plane (ratio 4.00): "
                                                    "4x along z")
    coronal = slicer.util.addVolumeFromArray(np.ones((6, 9, 10), np.float32), np.array(
        [[-1.0, 0, 0, 0], [0, 0, 4.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]]), name="Coronal")  # k runs anterior
    assert logic.inputDescription(coronal).startswith("coronal slices along z are 4 mm apart")
    assert "enlarges every axis" in logic.inputDescription(thick, "sr3d_rrdb_x4_real_l1")
    # an interpolation baseline: along z only, onto the grid of the through-plane model, without adaptation
    assert logic.inputDescription(thick, "bspline").endswith("output 1 mm isotropic (model bspline)")
    assert logic.throughPlane(thick, "bspline") and not logic.canAdapt(thick, "bspline")
    assert logic.canAdapt(thick) and not logic.throughPlane(thick, "sr3d_rrdb_x4_real_l1")
    with pytest.raises(InputVolumeError, match="a learned through-plane model"):
        logic._prepare(thick, None, "bspline", None, adapt=True)
    varied = slicer.util.addVolumeFromArray(np.random.default_rng(0).random((6, 9, 10)).astype(np.float32),
                                            np.diag([-1.0, -1.0, 4.0, 1.0]), name="Varied")
    output = logic.process(varied, model="bspline", device="cpu")
    assert slicer.util.arrayFromVolume(output).shape == (24, 9, 10) and output.GetSpacing() == pytest.approx((1, 1, 1))
    iso = slicer.util.addVolumeFromArray(np.ones((8, 8, 8), np.float32), oblique_ijk_to_ras((1.0, 0.8, 1.1)), name="Iso")
    assert logic.chooseModel("default", iso) == "default" and logic.inputDescription(iso) == ""
    # 1.5 x 0.8 x 3 mm: non-square pixels, z still 2x coarser than either in-plane axis
    non_square = add_oblique_volume("NonSquare", shape=(8, 8, 8), spacing=(1.5, 0.8, 3.0))
    assert logic.chooseModel("default", non_square) == "sr3d_rrdb_thick_x4_l1"
    assert "0.8 x 1.5 mm in-plane (ratio 3.75)" in logic.inputDescription(non_square)


def test_the_adaptation_profile_choices_are_the_librarys_and_default_to_auto(logic):
    from SuperResolution3DLib.core.config import AdaptationSettings
    from SuperResolution3DLib.core.vocabulary import ADAPTATION_PROFILES

    assert tuple(logic.adaptationProfiles()) == ADAPTATION_PROFILES and "sinc" in logic.adaptationProfiles()
    defaults = logic.defaultParameters()
    assert defaults["AdaptSliceProfile"] == AdaptationSettings().slice_profile == "auto"
    assert defaults["AdaptSliceThickness"] == "0.0"  # the panel's "auto"


class FakeDICOMDatabase:
    """``slicer.dicomDatabase``'s ``instanceValue(uid, "gggg,eeee")`` for one instance."""

    def __init__(self, uid, values):
        self.uid, self.values = uid, values

    def instanceValue(self, uid, tag):
        return self.values.get(tag, "") if uid == self.uid else ""


def test_an_adaptation_assumes_the_dicom_slice_thickness_where_the_user_left_it_open(scene, monkeypatch):
    node = slicer.util.addVolumeFromArray(np.zeros((6, 10, 12), np.float32), np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    def optionsFor(minutes, profile, thickness=None):
        return process.adaptationOptions(minutes, profile, thickness, acquisition.recordedSlices(node), node.GetSpacing())

    options = process.adaptationOptions(2.0, "mixed")
    assert optionsFor(2.0, "mixed") == options  # not from the DICOM module: nothing recorded
    node.SetAttribute("DICOM.instanceUIDs", "1.2.3.4")
    monkeypatch.setattr(slicer, "dicomDatabase", FakeDICOMDatabase("1.2.3.4", {"0008,0060": "CT", "0018,0050": "6"}),
                        raising=False)
    assert optionsFor(2.0, "mixed") == dict(options, adapt_slice_thickness=1.5)  # 6 mm every 4 mm
    assert optionsFor(2.0, None)["adapt_slice_thickness"] == 1.5  # the panel leaves the profile open too
    assert optionsFor(2.0, "gaussian", 1.1) == process.adaptationOptions(2.0, "gaussian", 1.1)
    assert acquisition.recordedSliceProfile(node) is None  # a CT says nothing of k-space


def test_the_adapted_model_file_is_checked_before_anything_starts(tmp_path, monkeypatch):
    from SuperResolution3DLib.core.errors import ModelFileError

    options = process.adaptationOptions(1.0, "mixed", saveTo=str(tmp_path / "mine.json"))
    assert options["adapt_save_path"] == str((tmp_path / "mine.json").resolve())
    assert "adapt_save_path" not in process.adaptationOptions(1.0, "mixed", saveTo="")  # the panel's empty field
    for path, message in ((tmp_path / "mine.txt", "a .json file"), (tmp_path / "no" / "m.json", "does not exist")):
        with pytest.raises(ModelFileError, match=message):
            process.adaptationOptions(1.0, "mixed", saveTo=str(path))
    (tmp_path / "bundled.json").write_text('{"format": "sr3d-model"}')
    monkeypatch.setenv("SR3D_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelFileError, match="bundled model and would be overwritten"):
        process.adaptationOptions(1.0, "mixed", saveTo=str(tmp_path / "bundled.json"))
    assert process.adaptationOptions(1.0, "mixed", saveTo=str(tmp_path / "other.json"))["adapt_save_path"]


def test_the_status_line_says_whether_the_saved_model_holds_adapted_weights(tmp_path):
    from types import SimpleNamespace

    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    network = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [1, 1, 4]}
    assert process.savedModelText(SimpleNamespace(settings={})) == ""
    for kept, text in ((True, "; adapted model saved to "), (False, "; model saved to ")):
        path = save_model(tmp_path / f"kept_{kept}", build_network(dict(network)),
                          {"network": network, "normalization": {"kind": "minmax"}, "adaptation": {"kept": kept}})
        line = process.savedModelText(SimpleNamespace(settings={"adapt_save_path": str(path)}))
        assert line.startswith(text + str(path)) and ("not kept" in line) is (not kept)


def test_a_volume_from_a_file_keeps_the_record_of_its_header_while_it_has_the_files_slices(scene, tmp_path):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.acquisition import slice_profile_note
    from SuperResolution3DLib.data.io import write_volume

    path = write_volume(Volume(np.zeros((6, 10, 12), np.float32), (1.0, 1.0, 4.0)), tmp_path / "lr.nrrd",
                        notes=slice_profile_note("sinc", 4.0))
    node = slicer.util.addVolumeFromArray(np.zeros((6, 10, 12), np.float32), np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    assert acquisition.recordedSlices(node) is None  # no file behind it
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    assert acquisition.recordedSliceProfile(node) == "sinc" and acquisition.recordedSlices(node).thickness_mm == 4.0
    options = process.adaptationOptions(1.0, "auto", None, acquisition.recordedSlices(node), node.GetSpacing())
    assert options["adapt_slice_profile"] == "sinc"
    node.SetSpacing(1.0, 1.0, 2.0)  # changed since it was read: the file no longer describes it
    assert acquisition.recordedSlices(node) is None


@pytest.mark.parametrize("modality, acquisition, image_type, expected", [
    ("MR", "3D", "ORIGINAL\\PRIMARY", "sr3d_rrdb_thick_kspace_x4_l1"), ("MR", "3D", "DERIVED\\SECONDARY\\MPR", "sr3d_rrdb_thick_x4_l1"),
    ("MR", "2D", "ORIGINAL\\PRIMARY", "sr3d_rrdb_thick_x4_l1"), ("CT", "", "ORIGINAL\\PRIMARY", "sr3d_rrdb_thick_x4_l1")])
def test_a_thick_slice_volume_from_dicom_gets_the_model_its_acquisition_calls_for(scene, logic, monkeypatch, modality,
                                                                                 acquisition, image_type, expected):
    node = slicer.util.addVolumeFromArray(np.zeros((6, 10, 12), np.float32), np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    assert logic.chooseModel("default", node) == "sr3d_rrdb_thick_x4_l1"  # no DICOM database entry: the default rule
    node.SetAttribute("DICOM.instanceUIDs", "1.2.3.4 1.2.3.5")
    monkeypatch.setattr(slicer, "dicomDatabase", FakeDICOMDatabase("1.2.3.4", {"0008,0060": modality, "0018,0023": acquisition,
                                                                          "0008,0008": image_type}),
                        raising=False)
    assert logic.chooseModel("default", node) == expected
    assert logic.inputDescription(node).endswith(f"output 1 mm isotropic (model {expected})")
    assert logic.chooseModel("bspline", node) == "bspline"


def test_the_panel_says_when_the_recorded_slices_overlap_more_than_the_model_trained_on(scene, logic, tmp_path):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.acquisition import slice_profile_note
    from SuperResolution3DLib.data.io import write_volume

    node = slicer.util.addVolumeFromArray(np.zeros((6, 10, 12), np.float32), np.diag([-1.0, -1.0, 4.0, 1.0]), name="Thick")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    node.SetAndObserveStorageNodeID(storage.GetID())
    for thickness, noted in ((4.0, False), (8.0, True)):
        path = write_volume(Volume(np.zeros((6, 10, 12), np.float32), (1.0, 1.0, 4.0)), tmp_path / f"lr{thickness}.nrrd",
                            notes=slice_profile_note("gaussian", thickness))
        storage.SetFileName(str(path))
        description = logic.inputDescription(node)
        assert description.startswith("axial slices along z are 4 mm apart")
        assert ("they overlap, and the model trained on 0.8-1.3" in description) is noted, description
        assert description.endswith(f"output made to give back the slices: gaussian slices {thickness / 4:g} slice "
                                    f"spacing{'s' if noted else ''} thick (sr3d degrade's note in the file)"), description
        assert "they overlap" not in logic.inputDescription(node, adapt=True)  # adapting learns them: no note


def test_the_panels_fuse_button_takes_the_input_first_and_a_model_that_works_across_slices(scene, logic):
    from SuperResolution3DHelpers.fusion import fusionModel, fusionReadiness, fusionStackNodes

    def stack(name, spacing):
        return slicer.util.addVolumeFromArray(np.ones((6, 9, 10), np.float32), np.diag([-spacing[0], -spacing[1],
                                                                                         spacing[2], 1.0]), name=name)

    axial, coronal, sagittal = stack("Ax", (1, 1, 4)), stack("Cor", (1, 4, 1)), stack("Sag", (4, 1, 1))
    iso = stack("Iso", (1, 1, 1))
    assert [n.GetName() for n in fusionStackNodes(coronal, [axial, coronal, None, sagittal])] == ["Cor", "Ax", "Sag"]
    assert fusionStackNodes(None, []) == []
    assert fusionReadiness(logic, [])[0] is False
    ready, reason = fusionReadiness(logic, [axial])
    assert not ready and "Tick at least one other stack" in reason
    ready, reason = fusionReadiness(logic, [axial, iso])
    assert not ready and "'Iso' has no thick slices" in reason
    ready, reason = fusionReadiness(logic, [axial, coronal, sagittal])
    assert ready and reason == "Fuse 3 stacks into one isotropic volume on the field of view of 'Ax'"
    # the panel's model where it works across slices, else the bundled through-plane model
    assert fusionModel(logic, "bspline", axial) == "bspline"
    assert fusionModel(logic, "sr3d_rrdb_thick_kspace_x4_l1", axial) == "sr3d_rrdb_thick_kspace_x4_l1"
    assert fusionModel(logic, "sr3d_rrdb_x4_real_l1", axial) == "default"  # an isotropic model cannot fuse
    assert fusionModel(logic, "/no/such/model.json", axial) == "default"
    assert fusionModel(logic, None, axial) == "default"
    assert logic.defaultParameters()["RegisterStacks"] == "false"
