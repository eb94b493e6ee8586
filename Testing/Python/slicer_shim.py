"""A minimal stand-in for the parts of 3D Slicer that ``slicer-core`` (the PyPI package) does not have.

``slicer-core`` brings the real MRML scene, nodes, storage nodes and ``slicer.util``, but no Qt: there is
no ``qt``, ``ctk``, ``slicer.app`` nor ``slicer.ScriptedLoadableModule``. ``install()`` adds just enough
of them for ``SuperResolution3D/SuperResolution3D.py`` to be imported and for its Logic to run on a real
scene. Widgets are never built here: every Qt class is an inert placeholder.
"""

from __future__ import annotations

import sys
import types
import unittest


class _Inert:
    """Any Qt/CTK class: constructible, every attribute is another inert object, calls return inert objects."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __bool__(self):
        return False


class _InertModule(types.ModuleType):
    """A module whose every attribute is an inert class (``qt.QTimer``, ``ctk.ctkCollapsibleButton``...)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        inert = type(name, (_Inert,), {})
        setattr(self, name, inert)
        return inert


def _scripted_loadable_module(slicer) -> types.ModuleType:
    """``slicer.ScriptedLoadableModule`` with the behaviour the module's Logic relies on."""
    module = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent
            self.moduleName = self.__class__.__name__
            parent.title = ""
            parent.categories = []
            parent.dependencies = []
            parent.contributors = []
            parent.helpText = ""
            parent.acknowledgementText = ""

        def resourcePath(self, filename):
            import os

            return os.path.join(os.path.dirname(self.parent.path), "Resources", filename)

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent
            self.moduleName = self.__class__.__name__[: -len("Widget")]

        def setup(self):
            pass

        def cleanup(self):
            pass

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            self.moduleName = self.__class__.__name__
            if self.moduleName.endswith("Logic"):
                self.moduleName = self.moduleName[: -len("Logic")]
            self.isSingletonParameterNode = True

        def getParameterNode(self):
            scene = slicer.mrmlScene
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node:
                return node
            node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
            node.UnRegister(None)
            node.SetSingletonTag(self.moduleName)
            node.SetAttribute("ModuleName", self.moduleName)
            node.SetName(scene.GenerateUniqueName(self.moduleName))
            return scene.AddNode(node)

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, requestedDelay=None, msec=None):
            pass

        def runTest(self):
            pass

    module.ScriptedLoadableModule = ScriptedLoadableModule
    module.ScriptedLoadableModuleWidget = ScriptedLoadableModuleWidget
    module.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    module.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    module.__all__ = [
        "ScriptedLoadableModule",
        "ScriptedLoadableModuleWidget",
        "ScriptedLoadableModuleLogic",
        "ScriptedLoadableModuleTest",
    ]
    return module


def install(scene=None):
    """Make ``qt``, ``ctk``, ``slicer.ScriptedLoadableModule`` and ``slicer.i18n`` importable; set the scene.

    Real modules win: nothing is replaced that already imports. Returns the ``slicer`` module.
    """
    import slicer

    for name in ("qt", "ctk"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = _InertModule(name)
    if "slicer.ScriptedLoadableModule" not in sys.modules:
        try:
            import slicer.ScriptedLoadableModule  # noqa: F401  (real Slicer)
        except ImportError:
            module = _scripted_loadable_module(slicer)
            sys.modules["slicer.ScriptedLoadableModule"] = module
            slicer.ScriptedLoadableModule = module
    if "slicer.i18n" not in sys.modules:
        try:
            import slicer.i18n  # noqa: F401
        except ImportError:
            i18n = types.ModuleType("slicer.i18n")
            i18n.tr = lambda text: text
            i18n.translate = lambda context, text: text
            sys.modules["slicer.i18n"] = i18n
            slicer.i18n = i18n
    if scene is not None:
        slicer.mrmlScene = scene
    elif getattr(slicer, "mrmlScene", None) is None:
        slicer.mrmlScene = slicer.vtkMRMLScene()
    return slicer
