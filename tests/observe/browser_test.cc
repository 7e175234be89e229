#include "observe/observe_fixture.h"
