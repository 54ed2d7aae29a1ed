#include "jobctl.h"
