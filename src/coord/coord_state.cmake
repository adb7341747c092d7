# coord: the cluster state machine (pure: no I/O, no clock) and its protobuf form for the
# store. Included from src/coord/CMakeLists.txt.
set(_coord_state_sources
  ${CMAKE_CURRENT_LIST_DIR}/coord_state.c
  ${CMAKE_CURRENT_LIST_DIR}/coord_state_pb.c)
if(TARGET tandem_coord)
  target_sources(tandem_coord PRIVATE ${_coord_state_sources})
  target_link_libraries(tandem_coord PUBLIC tandem_proto)
endif()
# The state machine alone (common + proto only), so its tests need neither libcurl nor etcd.
add_library(tandem_coord_state STATIC ${_coord_state_sources})
target_include_directories(tandem_coord_state PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(tandem_coord_state PUBLIC tandem_common tandem_proto)
