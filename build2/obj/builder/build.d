build2/obj/builder/build.o: builder/build.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
