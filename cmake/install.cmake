# cmake --install: libjobstore.so and its headers, a CMake package (find_package(jobstore)
# gives jobstore::jobstore), jobstore.pc for pkg-config, the jobstore CLI, its man page and its
# bash completion.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS jobstore_shared EXPORT jobstoreTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/engine/include/jobstore
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT jobstoreTargets NAMESPACE jobstore::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jobstore)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/jobstoreConfig.cmake.in
  ${PROJECT_BINARY_DIR}/jobstoreConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jobstore)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/jobstoreConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/jobstoreConfig.cmake
  ${PROJECT_BINARY_DIR}/jobstoreConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jobstore)
configure_file(${PROJECT_SOURCE_DIR}/cmake/jobstore.pc.in ${PROJECT_BINARY_DIR}/jobstore.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/jobstore.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS jobstore_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_BINARY_DIR}/cli/jobstore.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_BINARY_DIR}/cli/jobstore.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME jobstore)
