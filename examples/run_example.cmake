# Runs an example against a fresh store directory: cmake -DEXAMPLE=... -DSTORE=... -P this
file(REMOVE_RECURSE ${STORE})
execute_process(COMMAND ${EXAMPLE} ${STORE} RESULT_VARIABLE rc)
file(REMOVE_RECURSE ${STORE})
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXAMPLE} exited with ${rc}")
endif()
