/**
 * The program's version, shown by `vxmesh --version`, in GET /status and in the
 * vxmesh_build_info metric. A constant rather than a read of package.json, so the bundled
 * program and the single executable know it too; a unit test keeps it equal to package.json.
 */
export const VERSION = '0.1.0';
