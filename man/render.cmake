cmake_minimum_required(VERSION 3.25)
# cmake -DGREEN=... -DSUB=... -DIN=... -DOUT=... -P render.cmake
# Fills @OPTIONS@ in a man page source with the option list generated from
# the CLI11 definitions (`green --generate-man-options SUB`), @COMMANDS@ with
# the list of commands (`green --generate-man-commands`), and @VERSION@.
execute_process(COMMAND ${GREEN} --generate-man-options ${SUB}
                OUTPUT_VARIABLE options RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "green --generate-man-options ${SUB} failed: ${rc}")
endif()
execute_process(COMMAND ${GREEN} --generate-man-commands OUTPUT_VARIABLE commands RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "green --generate-man-commands failed: ${rc}")
endif()
file(READ ${IN} page)
string(REPLACE "@OPTIONS@\n" "${options}" page "${page}")
string(REPLACE "@COMMANDS@\n" "${commands}" page "${page}")
string(REPLACE "@VERSION@" "${VERSION}" page "${page}")
file(WRITE ${OUT} "${page}")
