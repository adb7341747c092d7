# The coordinator's state machine, with a fixed clock (no sockets, no etcd).
tandem_unit_test(test_coord_state SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_coord_state.c
  LIBS tandem_coord_state LABELS coord)
