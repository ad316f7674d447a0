// Internal to the driver: giving back what start-up or a burst of work left
// resident (resident.cpp).
#pragma once

namespace dc::io {

void release_idle_pages();

}  // namespace dc::io
