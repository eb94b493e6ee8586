"""Geometry between Slicer nodes (RAS) and the library (ITK LPS: arrays ``[z, y, x]``, triples ``(x, y, z)``).

LPS and RAS differ by the sign of the first two rows of the origin and of the direction matrix.
"""

import numpy as np
import vtk

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse: also RAS from LPS


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


def roiVoxelRange(roiNode, volumeNode):
    """``(low, high)`` IJK voxel indices (inclusive, ``(x, y, z)``) whose centres lie in the ROI's box.

    The ROI (with its transforms) is taken to world RAS, then into the volume's own coordinates (through
    the inverse of the volume's parent transform) and to IJK; the range is the bounding box of the corners
    in IJK, clipped to the volume (``high < low`` along an axis the ROI misses).
    """
    import slicer

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
    return tuple(int(v) for v in low), tuple(int(v) for v in high)


def roiVoxelBox(roiNode, volumeNode):
    """The input voxels whose centres lie in the ROI's box: ``(start, size)`` in ``(x, y, z)`` = (i, j, k).

    Raises ``InputVolumeError`` when it holds fewer than 2 voxels along an axis.
    """
    from SuperResolution3DLib.core.errors import InputVolumeError

    low, high = (np.asarray(v) for v in roiVoxelRange(roiNode, volumeNode))
    size = high - low + 1
    if np.any(size < 2):
        raise InputVolumeError(
            f"the region of interest '{roiNode.GetName()}' covers {max(0, int(size.min()))} voxel(s) along an axis "
            f"of '{volumeNode.GetName()}' (voxels {tuple(low)} to {tuple(high)}); it must overlap the volume "
            "by at least 2 voxels along every axis: move or enlarge the ROI"
        )
    return tuple(int(v) for v in low), tuple(int(v) for v in size)
