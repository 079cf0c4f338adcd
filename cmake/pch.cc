// The translation unit cfs_pch compiles its precompiled header for; see
// cmake/Precompiled.cmake.
