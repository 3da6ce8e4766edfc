build2/asan/obj/rootfs/tree.o: rootfs/tree.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
