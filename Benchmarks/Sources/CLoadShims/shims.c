// Header-only: Sources/CLoadShims/include/CLoadShims.h. SwiftPM needs one source file per C target.
#include "CLoadShims.h"
