build2/obj/builder/main.o: builder/main.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
