/** The version a probe answer carries; a unit test keeps it equal to package.json's. */
export const VXMESH_VERSION = '0.1.0';
