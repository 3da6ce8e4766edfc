build2/obj/policies/policy_summary.o: policies/policy_summary.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
