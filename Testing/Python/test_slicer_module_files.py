"""The Slicer extension's files: the .ui, the module's import cost, CMake packaging, icon, catalog entry.

Only the import test needs ``slicer-core``; the others read files.
"""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "SuperResolution3D"
MODULE_FILE = MODULE_DIR / "SuperResolution3D.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "SuperResolution3D.ui"
KNOWN_WIDGET_CLASSES = {
    "qMRMLWidget", "qMRMLNodeComboBox", "ctkCollapsibleButton", "QLabel", "QComboBox", "QPushButton",
    "QPlainTextEdit", "QCheckBox", "QSpinBox", "QDoubleSpinBox", "QProgressBar", "QLineEdit",
    "qMRMLCheckableNodeComboBox",
}


def module_source():
    """The module file and its helper package (the panel lives in SuperResolution3DHelpers/panel.py)."""
    files = [MODULE_FILE] + sorted((MODULE_DIR / "SuperResolution3DHelpers").glob("*.py"))
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def ui_widgets():
    tree = ElementTree.parse(UI_FILE)
    return {widget.get("name"): widget.get("class") for widget in tree.iter("widget")}


# .ui ------------------------------------------------------------------------------------------------
def test_ui_declares_every_widget_the_widget_class_uses():
    widgets = ui_widgets()
    used = set(re.findall(r"self\.ui\.(\w+)", module_source()))
    used |= set(re.findall(r'"(\w+CollapsibleButton)"', module_source()))  # looked up by name
    assert used, "the Widget uses no .ui widget?"
    missing = sorted(used - set(widgets))
    assert not missing, f"used by SuperResolution3DWidget but not in {UI_FILE.name}: {missing}"
    assert set(widgets.values()) <= KNOWN_WIDGET_CLASSES, set(widgets.values()) - KNOWN_WIDGET_CLASSES
    assert widgets["SuperResolution3D"] == "qMRMLWidget"


def test_ui_node_selectors_and_scene_connections():
    tree = ElementTree.parse(UI_FILE)
    selectors = {w.get("name"): w for w in tree.iter("widget")
                 if w.get("class") in ("qMRMLNodeComboBox", "qMRMLCheckableNodeComboBox")}
    assert set(selectors) == {"inputSelector", "outputSelector", "roiSelector", "stacksSelector",
                              "finetuneScansSelector", "finetuneValidationSelector"}

    def node_types(widget):
        return [s.text for p in widget.findall("property") if p.get("name") == "nodeTypes" for s in p.iter("string")]

    assert node_types(selectors["inputSelector"]) == ["vtkMRMLScalarVolumeNode"]
    assert node_types(selectors["roiSelector"]) == ["vtkMRMLMarkupsROINode"]
    assert node_types(selectors["stacksSelector"]) == ["vtkMRMLScalarVolumeNode"]
    for name in ("stacksSelector", "finetuneScansSelector", "finetuneValidationSelector"):
        assert node_types(selectors[name]) == ["vtkMRMLScalarVolumeNode"]
        assert selectors[name].get("class") == "qMRMLCheckableNodeComboBox"
    connected = {c.findtext("receiver") for c in tree.iter("connection")
                 if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert connected == set(selectors)


# Import ---------------------------------------------------------------------------------------------
IMPORT_PROBE = """
import json, sys, time
sys.path[:0] = [{testing!r}, {module_dir!r}]
import slicer_shim
slicer = slicer_shim.install()   # in Slicer, slicer, vtk, qt and numpy are loaded before any module
import numpy, vtk
start = time.perf_counter()
import SuperResolution3D
seconds = time.perf_counter() - start
heavy = sorted(name for name in ("torch", "monai", "SimpleITK", "safetensors") if name in sys.modules)
print(json.dumps(dict(seconds=seconds, heavy=heavy,
                      classes=[n for n in ("SuperResolution3D", "SuperResolution3DWidget", "SuperResolution3DLogic",
                                           "SuperResolution3DTest", "SuperResolutionProcess")
                               if hasattr(SuperResolution3D, n)])))
"""


def test_module_imports_fast_without_torch_or_monai():
    try:
        import slicer
    except ImportError:
        pytest.skip("slicer-core is not installed (pip install slicer-core)")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the installed 'slicer' package is not slicer-core")
    code = IMPORT_PROBE.format(testing=str(ROOT / "Testing" / "Python"), module_dir=str(MODULE_DIR))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"importing the module imported {report['heavy']}"
    assert len(report["classes"]) == 5
    assert report["seconds"] < 1.0, f"module import took {report['seconds']:.2f} s"


def test_heavy_imports_stay_inside_functions():
    top_level = [line for line in module_source().splitlines() if re.match(r"(import|from) ", line)]
    assert not [line for line in top_level if re.search(r"\b(torch|monai|SimpleITK|safetensors)\b", line)]
    assert not [line for line in top_level if "SuperResolution3DLib" in line]


# Packaging ------------------------------------------------------------------------------------------
def cmake(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    return re.sub(r"#[^\n]*", "", text)


def test_top_level_cmake_declares_the_extension():
    text = cmake("CMakeLists.txt")
    assert re.search(r"project\(SuperResolution3D\)", text)
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                     "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        assert re.search(rf"set\({variable} ", text), variable
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in text
    assert "EXTENSION_ICONURL" in text and "SuperResolution3D.png" in text
    screenshots = re.search(r'set\(EXTENSION_SCREENSHOTURLS "([^"]+)"\)', text)
    assert screenshots, "EXTENSION_SCREENSHOTURLS is empty"
    for url in screenshots.group(1).split():  # each names a file of this repository on its main branch
        assert (ROOT / url.split("/main/", 1)[1]).is_file(), url
    assert "add_subdirectory(SuperResolution3D)" in text and "add_subdirectory(Testing)" in text
    assert "Slicer_EXTENSION_GENERATE_CONFIG" in text and "Slicer_EXTENSION_CPACK" in text


def installed_files():
    """Files (relative to the installed qt-scripted-modules folder) the CMake scripts install, with globs."""
    module_cmake = cmake("SuperResolution3D/CMakeLists.txt").replace("${MODULE_NAME}", "SuperResolution3D")
    top = cmake("CMakeLists.txt")
    assert "slicerMacroBuildScriptedModule(" in module_cmake and "slicerMacroBuildScriptedModule(" in top
    listed = set(re.findall(r"(?:^|\s)((?:Resources/)?[\w/.*]+\.(?:py|png|ui|txt|json|safetensors))", module_cmake))
    listed |= set(re.findall(r"(?:^|\s)([\w/.*]+\.(?:py|txt|json|safetensors))(?=\s|\))", top))
    return {name for name in listed if name != "CMakeLists.txt"}


def test_every_file_the_module_reads_at_run_time_is_installed():
    installed = installed_files()
    assert {"SuperResolution3D.py", "Resources/Icons/SuperResolution3D.png", "Resources/UI/SuperResolution3D.ui",
            "requirements.txt", "SuperResolution3DLib/*.py", "Resources/Models/*.json",
            "Resources/Models/*.safetensors"} <= installed, installed
    helpers = {f"SuperResolution3DHelpers/{path.name}" for path in (MODULE_DIR / "SuperResolution3DHelpers").glob("*.py")}
    assert helpers - installed == set(), f"helper files the module imports but CMake does not install: {helpers - installed}"
    source = module_source()
    for relative in re.findall(r'resourcePath\("([^"]+)"\)', source):
        assert f"Resources/{relative}" in installed, relative
    for relative in re.findall(r'findFile\("([^"]+)"\)', source):
        assert relative in installed, relative
    # Every listed (non-glob) file exists, relative to the CMakeLists.txt that lists it.
    for name in installed - {n for n in installed if "*" in n}:
        assert (MODULE_DIR / name).exists() or (ROOT / name).exists(), name
    # The library and models land beside the module file, where the module and models_dir() look.
    assert (ROOT / "SuperResolution3DLib" / "__init__.py").is_file()
    assert "SuperResolution3DLib/*.py" in installed and "GLOB_RECURSE" in cmake("CMakeLists.txt")


def test_testing_cmake_registers_the_self_test():
    text = cmake("Testing/CMakeLists.txt")
    assert re.search(r"slicer_add_python_unittest\(\s*SCRIPT \$\{PROJECT_SOURCE_DIR\}/SuperResolution3D/SuperResolution3D\.py",
                     text)
    assert "class SuperResolution3DTest(ScriptedLoadableModuleTest)" in module_source()


def test_icons_are_128_pixel_pngs():
    from PIL import Image

    for path in (ROOT / "SuperResolution3D.png", MODULE_DIR / "Resources" / "Icons" / "SuperResolution3D.png"):
        with Image.open(path) as icon:
            assert icon.format == "PNG" and icon.size == (128, 128)


def test_catalog_entry_license_and_requirements():
    entry = json.loads((ROOT / "SuperResolution3D.json").read_text())
    assert {"$schema", "category", "scm_url"} <= set(entry)
    assert "slicer-extension-catalog-entry-schema" in entry["$schema"]
    assert entry["build_dependencies"] == ["PyTorch"]
    license_text = (ROOT / "LICENSE.txt").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text

    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {re.split(r"[<>=!~ ]", d)[0].lower() for d in pyproject["project"]["dependencies"]} - {"torch"}
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    listed = {re.split(r"[<>=!~ ]", line)[0].lower() for line in lines if line}
    assert listed == wanted
