#include "CHinixBaseline.h"
