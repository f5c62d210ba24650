# Install-time part of packaging/CMakeLists.txt: writes the systemd units with the paths of this
# install's prefix and installs them and the default configs. Runs inside cmake_install.cmake, where
# CMAKE_INSTALL_PREFIX is the real prefix (/usr under CPack, which stages with DESTDIR).
#   prefix /usr:   binaries /usr/bin,       units /lib/systemd/system,       configs /etc/holepunch
#   other prefix:  binaries PREFIX/bin,     units PREFIX/lib/systemd/system, configs PREFIX/etc/holepunch
# (systemd reads /usr/local/lib/systemd/system too). -DHP_SYSCONFDIR=/etc at configure time puts the
# configs of an install to another prefix (/usr/local) in /etc/holepunch instead.
set(prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" prefix "${prefix}")
set(HP_BINDIR "${prefix}/bin")
if(prefix STREQUAL "" OR prefix STREQUAL "/usr")
  set(confdir "/etc")  # always, for the package too: debian/conffiles names /etc/holepunch
elseif(HP_SYSCONFDIR_OVERRIDE)
  set(confdir "${HP_SYSCONFDIR_OVERRIDE}")
else()
  set(confdir "${prefix}/etc")
endif()
set(HP_CONFDIR "${confdir}/holepunch")
if(prefix STREQUAL "/usr")
  set(unitdir "/lib/systemd/system")  # Debian 12's path for packaged units
else()
  set(unitdir "${prefix}/lib/systemd/system")
endif()

set(generated "${HP_GENERATED_DIR}/units")
foreach(unit rendezvous.service peer-online@.service)
  configure_file("${HP_PACKAGING_DIR}/systemd/${unit}.in" "${generated}/${unit}" @ONLY)
endforeach()
file(INSTALL DESTINATION "${unitdir}" TYPE FILE
     FILES "${generated}/rendezvous.service" "${generated}/peer-online@.service")

# A config already there is the admin's: a plain re-install keeps it (the package marks them conffiles).
foreach(config rendezvous.json home.json.example)
  # rendezvous.json holds the server's token: root only (the unit hands it over with LoadCredential=).
  set(mode OWNER_READ OWNER_WRITE)
  if(config STREQUAL "home.json.example")
    set(mode OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
  if(EXISTS "$ENV{DESTDIR}${HP_CONFDIR}/${config}")
    message(STATUS "Keeping: $ENV{DESTDIR}${HP_CONFDIR}/${config}")
  else()
    file(INSTALL DESTINATION "${HP_CONFDIR}" TYPE FILE PERMISSIONS ${mode}
         FILES "${HP_PACKAGING_DIR}/config/${config}")
  endif()
endforeach()
